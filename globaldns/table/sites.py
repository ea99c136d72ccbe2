"""A cluster's gateways as the policy sees them: each address judged up or down once, where
the index holds the cluster (`Index.sites`), so the answers, `/table` and the
`globaldns_gateway_up` metric read one judgement.

A gateway address counts as up unless probing says otherwise; a cluster whose gateway Service
lists no ready endpoint (`Cluster.gateway_ready`) counts as all down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from globaldns.table.model import Cluster, GatewayHealth

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
