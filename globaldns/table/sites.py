"""A cluster's gateways as the policy sees them: each address judged up or down once, where
the index holds the cluster (`Index.sites`), so the answers, `/table` and the
`globaldns_gateway_up` metric read one judgement.

A gateway address counts as up unless probing says otherwise; a cluster whose gateway Service
lists no ready endpoint (`Cluster.gateway_ready`) counts as all down.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from typing import NamedTuple, TypeVar, overload

from globaldns.table.model import Cluster, GatewayHealth

_T = TypeVar("_T")
NO_GATEWAY_READY = "gateway Service has no ready endpoint"


class Gateway(NamedTuple):
    """One gateway address of a cluster and whether it counts as up."""

    address: str
    up: bool
    error: str = ""  # why it is down: the probe's last error, or the gateway Service's state

    def __str__(self) -> str:
        return self.address if self.up else f"{self.address} {self.error or 'down'}"


class Site(NamedTuple):
    """A cluster as the policy sees it: its region and its gateways, judged once."""

    name: str
    region: str | None
    gateways: tuple[Gateway, ...]
    up: tuple[str, ...]  # the addresses that count as up
    every: tuple[str, ...]  # all its gateway addresses
    down: str  # the down addresses and why, "" when none is down


class Healthy:
    """The clusters whose gateways are all up (one at least), by region, with those addresses:
    the remote tier takes a name's ready clusters from these in set operations, not a pass.

    Worked out once per health change, and read on every flip of every cluster: so each
    region's clusters are kept in name order, inside it and outside it (`split`), and a name's
    clusters are picked from those orders, never sorted per flip.
    """

    __slots__ = ("_sites", "_splits", "clusters", "distinct", "one", "up")

    def __init__(self, sites: Mapping[str, Site]) -> None:
        self._sites = sites
        self.up = up = {name: s.up for name, s in sites.items() if s.up and not s.down}
        self.clusters = frozenset(up)
        addresses = [a for every in up.values() for a in every]
        # No address is up twice among them: their addresses need no dedupe.
        self.distinct = len(set(addresses)) == len(addresses)
        # cluster -> its address, when each has one and none is shared (most meshes): a name's
        # addresses are then one lookup per cluster
        one = {name: every[0] for name, every in up.items() if len(every) == 1}
        self.one = one if self.distinct and len(one) == len(up) else None
        self._splits: dict[str | None, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def addresses(self, clusters: Iterable[str]) -> tuple[str, ...]:
        """The up addresses of these clusters in their order, each once."""
        if self.one is not None:
            return tuple(map(self.one.__getitem__, clusters))
        joined = chain.from_iterable(map(self.up.__getitem__, clusters))
        return tuple(joined) if self.distinct else tuple(dict.fromkeys(joined))

    def split(self, region: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """These clusters in name order: those of `region`, then the others."""
        held = self._splits.get(region)
        if held is None:
            ordered = sorted(self.clusters)
            inside = {c for c in ordered if region is not None and self._sites[c].region == region}
            held = self._splits[region] = (
                tuple(c for c in ordered if c in inside),
                tuple(c for c in ordered if c not in inside),
            )
        return held


class Sites(Mapping[str, Site]):
    """Every cluster's `Site` by name; `healthy()` is worked out once per change of any.

    A name every cluster runs is resolved anew on each flip of any one of them, while the
    judgements stay the same between health changes, which are rare.
    """

    def __init__(self, sites: Iterable[Site] = ()) -> None:
        self._sites = {s.name: s for s in sites}
        self._healthy: Healthy | None = None

    def put(self, judged: Site) -> None:
        self._sites[judged.name] = judged
        self._healthy = None

    def drop(self, name: str) -> None:
        if self._sites.pop(name, None) is not None:
            self._healthy = None

    def __getitem__(self, name: str) -> Site:
        return self._sites[name]

    @overload
    def get(self, name: str, /) -> Site | None: ...
    @overload
    def get(self, name: str, default: Site | _T, /) -> Site | _T: ...
    def get(self, name: str, default: object = None, /) -> object:
        """A dict's lookup, not the `Mapping` mixin's (a Python call per miss)."""
        return self._sites.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._sites

    def __iter__(self) -> Iterator[str]:
        return iter(self._sites)

    def __len__(self) -> int:
        return len(self._sites)

    def healthy(self) -> Healthy:
        if self._healthy is None:
            self._healthy = Healthy(dict(self._sites))
        return self._healthy


def site(cluster: Cluster, health: Mapping[str, GatewayHealth]) -> Site:
    """Judge a cluster's gateways: `health` maps address -> probe result (absent: up)."""
    if not cluster.gateway_ready:
        gateways = tuple(Gateway(a, False, NO_GATEWAY_READY) for a in cluster.gateways)
    else:
        gateways = tuple(gateway(a, health.get(a)) for a in cluster.gateways)
    return Site(
        cluster.name,
        cluster.region,
        gateways,
        tuple(g.address for g in gateways if g.up),
        cluster.gateways,
        "; ".join(str(g) for g in gateways if not g.up),
    )


def gateway(address: str, probed: GatewayHealth | None) -> Gateway:
    """One address as probing judges it: up unless its last probe result says down."""
    if probed is None or probed.up:
        return Gateway(address, True)
    return Gateway(address, False, probed.error)
