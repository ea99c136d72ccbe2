"""A second, independent reading of SPEC §§1 and 2: what each name of the zone answers.

Written from the SPEC and the README ("When two claims spell one name"), not from
`globaldns.table`, and kept plain and slow: every answer is worked out from scratch from what
the sources said. `test_stateful.py` drives the table and this model with the same events and
compares what clients would see. It imports nothing from globaldns: its inputs are plain tuples.

Where the SPEC is silent, the model follows the README and the table's existing tests, and says
so where it does:
- a name whose claim has nothing to answer with (no address, no gateway) does not exist
  (NXDOMAIN), unless a name below it exists (NODATA, an empty non-terminal);
- a name's SRV ports: the first port of each (name, protocol) over the clusters it answers
  from, the local cluster first, then by cluster name, and within one cluster by object key;
  ServiceEntries by (cluster, key).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

ZONE = "global"

# A port as the model takes it: (name, number, protocol).
PortSpec = tuple[str, int, str]


class Kind(IntEnum):
    """Why a name exists, strongest first (README: "When two claims spell one name")."""

    ENTRY = 0
    SERVICE = 1
    CLUSTER_PIN = 2
    REGION_PIN = 3


class Rcode(IntEnum):
    NOERROR = 0
    SERVFAIL = 2
    NXDOMAIN = 3


@dataclass
class ClusterState:
    region: str | None
    gateways: tuple[str, ...]
    gateway_ready: bool
    down: set[str] = field(default_factory=set)  # addresses probing says are down


@dataclass(frozen=True)
class Service:
    """One exported Service in one cluster: `ready` endpoints; `addresses` its ClusterIPs, or,
    headless, its ready endpoints' addresses."""

    host: str
    addresses: tuple[str, ...]
    ready: int
    ports: tuple[PortSpec, ...] = ()


@dataclass(frozen=True)
class ServiceEntry:
    hosts: tuple[str, ...]
    addresses: tuple[str, ...]
    ports: tuple[PortSpec, ...] = ()


@dataclass(frozen=True)
class Owned:
    """What one name answers with: address groups in order of preference, and its ports."""

    groups: tuple[frozenset[str], ...]
    ports: tuple[PortSpec, ...]


@dataclass(frozen=True)
class Reply:
    """What a client sees for one question: the rcode and, when there is an answer, the
    addresses in groups of equal preference (A/AAAA), or the SRV record and the target's
    addresses in the additional section."""

    rcode: Rcode
    groups: tuple[frozenset[str], ...] = ()
    srv: tuple[int, str] | None = None
    additional: frozenset[str] = frozenset()


def global_name(name: str, namespace: str, identity: str | None) -> str:
    """SPEC §1: `<identity>` when the Service carries the identity label, else
    `<service>.<namespace>`, relative to the zone; names compare case-insensitively."""
    return (identity or f"{name}.{namespace}").lower()


def pinned(host: str, suffix: str) -> str:
    """SPEC §1: `-<cluster>` or `-<region>` after the first label."""
    labels = host.split(".")
    return ".".join([f"{labels[0]}-{suffix}", *labels[1:]])


def family(address: str) -> int:
    return ipaddress.ip_address(address).version


class Mesh:
    """What the sources said, and the answers SPEC §§1 and 2 derive from it."""

    def __init__(self, local: str) -> None:
        self.local = local
        self.clusters: dict[str, ClusterState] = {}
        self.services: dict[tuple[str, str], Service] = {}  # (cluster, key) -> service
        self.entries: dict[tuple[str, str], ServiceEntry] = {}
        self.complete = True
        self._owners: dict[str, Owned] | None = None  # worked out again after every event

    # -- events ---------------------------------------------------------------------------
    def put_cluster(
        self, name: str, region: str | None, gateways: tuple[str, ...], gateway_ready: bool
    ) -> None:
        """A cluster joins or changes; probe results of addresses it no longer lists are
        forgotten (the address starts up again if it comes back)."""
        self._owners = None
        old = self.clusters.get(name)
        down = {a for a in old.down if a in gateways} if old else set()
        self.clusters[name] = ClusterState(region, gateways, gateway_ready, down)

    def drop_cluster(self, name: str) -> None:
        """It leaves (or stays unreachable past serve-stale): everything it said is gone."""
        self._owners = None
        self.clusters.pop(name, None)
        for where in [w for w in self.services if w[0] == name]:
            del self.services[where]
        for where in [w for w in self.entries if w[0] == name]:
            del self.entries[where]

    def put_service(self, cluster: str, key: str, service: Service | None) -> None:
        self._owners = None
        if service is None:
            self.services.pop((cluster, key), None)
        else:
            self.services[(cluster, key)] = service

    def put_entry(self, cluster: str, key: str, entry: ServiceEntry | None) -> None:
        self._owners = None
        if entry is None:
            self.entries.pop((cluster, key), None)
        else:
            self.entries[(cluster, key)] = entry

    def probe(self, cluster: str, address: str, up: bool | None) -> None:
        """A probe verdict on a listed gateway address; None forgets it (up again)."""
        self._owners = None
        down = self.clusters[cluster].down
        if up is False:
            down.add(address)
        else:
            down.discard(address)

    # -- names ----------------------------------------------------------------------------
    def claims(self) -> dict[str, list[tuple[Kind, str, str]]]:
        """Every name and what claims it: (kind, host, cluster or region)."""
        out: dict[str, list[tuple[Kind, str, str]]] = {}

        def claim(name: str, kind: Kind, host: str, scope: str = "") -> None:
            out.setdefault(name, []).append((kind, host, scope))

        for entry in self.entries.values():
            for host in entry.hosts:
                claim(host.lower(), Kind.ENTRY, host.lower())
        for (cluster, _), service in self.services.items():
            host = service.host
            claim(host, Kind.SERVICE, host)
            claim(pinned(host, cluster), Kind.CLUSTER_PIN, host, cluster)
            region = self.clusters[cluster].region
            if region:
                claim(pinned(host, region), Kind.REGION_PIN, host, region)
        return out

    def owners(self) -> tuple[dict[str, Owned], dict[str, tuple[int, str, Owned]]]:
        """Every name that answers addresses, with what it answers, and every SRV name, with
        its port number, the name it points at and what that answers."""
        if self._owners is None:
            self._owners = {}
            for name, claims in self.claims().items():
                owned = self._answer(min(claims))
                if owned.groups:
                    self._owners[name] = owned
        srv_owners = {
            f"_{port}._{protocol.lower()}.{owner}": (number, owner, owned)
            for owner, owned in self._owners.items()
            for port, number, protocol in owned.ports
        }
        return self._owners, srv_owners

    def reply(self, qname: str, qtype: str) -> Reply:
        """The answer to one question (`qname` relative to the zone, any case)."""
        name = qname.lower()
        owners, srv_owners = self.owners()
        if name in owners:
            if qtype == "SRV":
                return Reply(Rcode.NOERROR)
            version = 4 if qtype == "A" else 6
            groups = tuple(
                frozenset(a for a in group if family(a) == version) for group in owners[name].groups
            )
            return Reply(Rcode.NOERROR, tuple(g for g in groups if g))
        if name in srv_owners:
            if qtype != "SRV":
                return Reply(Rcode.NOERROR)
            number, target, owned = srv_owners[name]
            return Reply(
                Rcode.NOERROR,
                srv=(number, f"{target}.{ZONE}."),
                additional=frozenset().union(*owned.groups),
            )
        if any(other.endswith("." + name) for other in [*owners, *srv_owners]):
            return Reply(Rcode.NOERROR)  # an empty non-terminal
        return Reply(Rcode.NXDOMAIN if self.complete else Rcode.SERVFAIL)

    # -- answers --------------------------------------------------------------------------
    def _answer(self, claim: tuple[Kind, str, str]) -> Owned:
        kind, host, scope = claim
        if kind == Kind.ENTRY:
            entries = [e for _, e in sorted(self.entries.items()) if host in _lower(e.hosts)]
            addresses = frozenset(a for e in entries for a in e.addresses)
            return Owned((addresses,) if addresses else (), _first_ports(e.ports for e in entries))
        runs = self._runs(host)
        if kind == Kind.CLUSTER_PIN:
            runs = {scope: runs[scope]}
            return Owned(self._pinned_to_cluster(scope, runs[scope]), self._ports(runs))
        if kind == Kind.REGION_PIN:
            runs = {c: s for c, s in runs.items() if self.clusters[c].region == scope}
        return Owned(self._tiers(runs), self._ports(runs))

    def _runs(self, host: str) -> dict[str, list[Service]]:
        """The clusters that run `host`, each with its Services of that name, by key."""
        runs: dict[str, list[Service]] = {}
        for (cluster, _), service in sorted(self.services.items()):
            if service.host == host:
                runs.setdefault(cluster, []).append(service)
        return runs

    def _ports(self, runs: dict[str, list[Service]]) -> tuple[PortSpec, ...]:
        order = sorted(runs, key=lambda c: (c != self.local, c))
        return _first_ports(s.ports for c in order for s in runs[c])

    def _pinned_to_cluster(
        self, cluster: str, services: list[Service]
    ) -> tuple[frozenset[str], ...]:
        """SPEC §2: that cluster as the tiers would, its own addresses when it is the local
        cluster, its gateways otherwise, up or down."""
        if cluster == self.local:
            found = frozenset(a for s in services for a in s.addresses)
        else:
            found = frozenset(self.clusters[cluster].gateways)
        return (found,) if found else ()

    def _tiers(self, runs: dict[str, list[Service]]) -> tuple[frozenset[str], ...]:
        """SPEC §2's tiers over the clusters that run a name (a region's only, if pinned)."""
        local = runs.get(self.local)
        local_addresses = frozenset(a for s in local or [] for a in s.addresses)
        if local_addresses and sum(s.ready for s in local or []) > 0:
            return (local_addresses,)  # 1. local
        remotes = [c for c in runs if c != self.local]
        ready = [c for c in remotes if sum(s.ready for s in runs[c]) > 0]
        remote = self._remote(ready)
        if remote:
            return remote  # 2. remote
        if local_addresses:  # 3. nobody ready: fail open, the local cluster first
            return (local_addresses,)
        return self._remote(remotes)

    def _remote(self, clusters: Iterable[str]) -> tuple[frozenset[str], ...]:
        """Up gateways of these clusters, the local cluster's region first; when none is up,
        every gateway as if up; nothing when none of them has a gateway address."""
        up = {c: self._up(c) for c in clusters}
        chosen = {c: a for c, a in up.items() if a}
        if not chosen:
            chosen = {c: self.clusters[c].gateways for c in up if self.clusters[c].gateways}
        home = self.clusters.get(self.local)
        region = home.region if home else None
        near = frozenset(
            a for c, found in chosen.items() if region and self._region(c) == region for a in found
        )
        far = frozenset(
            a
            for c, found in chosen.items()
            if not (region and self._region(c) == region)
            for a in found
        )
        return tuple(group for group in (near, far) if group)

    def _up(self, cluster: str) -> tuple[str, ...]:
        """Gateway addresses that count as up: none while the gateway Service lists no ready
        endpoint; otherwise all but those probing says are down."""
        state = self.clusters[cluster]
        if not state.gateway_ready:
            return ()
        return tuple(a for a in state.gateways if a not in state.down)

    def _region(self, cluster: str) -> str | None:
        return self.clusters[cluster].region


def _lower(hosts: Iterable[str]) -> set[str]:
    return {h.lower() for h in hosts}


def _first_ports(groups: Iterable[Iterable[PortSpec]]) -> tuple[PortSpec, ...]:
    """One number per port name and protocol: the first one met."""
    seen: dict[tuple[str, str], PortSpec] = {}
    for ports in groups:
        for port in ports:
            seen.setdefault((port[0], port[2].upper()), port)
    return tuple(seen.values())
