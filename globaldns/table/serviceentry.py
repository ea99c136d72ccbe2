"""`globaldns table --format serviceentry NAME...`: the Istio ServiceEntry that makes a name
derived from a Service route through the east-west gateways, for TCP as for HTTP.

A sidecar that dials a gateway address for `foo.global:80` without an entry for the host goes
through its passthrough cluster to the gateway's port 80, while Istio's east-west gateway
listens on 15443 for mTLS with SNI `outbound_.PORT_._.HOST`. This entry gives the sidecar the
host, a VIP to capture and the endpoints: this cluster's own addresses on the service's ports,
and every other cluster's gateways on 15443, each with its region as `locality`.

The VIP is the same in every cluster and every run, so globaldns (which answers a ServiceEntry
host with its addresses, from every cluster) never answers one cluster's VIP to another: an
address of 240.0.0.0/4 (reserved, never routed, as Istio's own VIP allocation uses) taken from
the SHA-256 of the name. Two names may meet on one VIP (at 1,000 names, odds of 1 in 500):
rendered together, that is refused.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from globaldns.errors import GlobalDnsError
from globaldns.table.claims import ClaimKind, pinned
from globaldns.table.model import Port
from globaldns.table.table import NameView, Table

API_VERSION = "networking.istio.io/v1beta1"  # served by Istio 1.5 onwards, v1's schema
GATEWAY_PORT = 15443  # the east-west gateway's mTLS port (AUTO_PASSTHROUGH by SNI)
VIP_NETWORK = ipaddress.ip_network("240.0.0.0/4")
# Istio picks a port's protocol from its name's prefix; a name it does not know is TCP.
PROTOCOLS = ("HTTP", "HTTP2", "HTTPS", "GRPC", "TLS", "MONGO", "TCP")


class NotRenderable(GlobalDnsError, ValueError):
    """A name asked for that no ServiceEntry of this kind is for (not from a Service)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    gateway: bool  # a remote cluster's gateway: every port on 15443
    locality: str | None


@dataclass(frozen=True, slots=True)
class Target:
    """What one entry is made of: the host, its ports and its endpoints."""

    host: str  # absolute, without the trailing dot
    ports: tuple[Port, ...]
    endpoints: tuple[Endpoint, ...]


def vip(host: str) -> str:
    """The name's VIP: from its SHA-256, in 240.0.0.0/4 short of its broadcast address."""
    digest = int.from_bytes(hashlib.sha256(host.lower().encode()).digest()[:8], "big")
    return str(VIP_NETWORK[digest % (VIP_NETWORK.num_addresses - 1)])


def port_name(port: Port) -> str:
    """The port's name, or `tcp-<number>` for a port without one (Istio needs one)."""
    return port.name or f"tcp-{port.port}"


def protocol(port: Port) -> str:
    prefix = port_name(port).split("-", 1)[0].upper()
    return prefix if prefix in PROTOCOLS else "TCP"


def service_entry(target: Target) -> dict[str, object]:
    """The ServiceEntry of one target, as a Kubernetes object (UDP ports left out: Istio's
    sidecars do not carry UDP)."""
    ports = [p for p in target.ports if p.protocol.upper() != "UDP"]
    names = [port_name(p) for p in ports]
    endpoints = []
    for endpoint in target.endpoints:
        item: dict[str, object] = {"address": endpoint.address}
        if endpoint.gateway:
            item["ports"] = dict.fromkeys(names, GATEWAY_PORT)
        if endpoint.locality:
            item["locality"] = endpoint.locality
        endpoints.append(item)
    return {
        "apiVersion": API_VERSION,
        "kind": "ServiceEntry",
        "metadata": {
            "name": "globaldns-" + target.host.replace(".", "-"),
            "labels": {"app.kubernetes.io/managed-by": "globaldns"},
        },
        "spec": {
            "hosts": [target.host],
            "addresses": [vip(target.host)],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [
                {"number": p.port, "name": n, "protocol": protocol(p)}
                for p, n in zip(ports, names, strict=True)
            ],
            "endpoints": endpoints,
        },
    }


def as_yaml(targets: Sequence[Target]) -> str:
    """One YAML stream, an entry per target; two targets on one VIP are refused."""
    seen: dict[str, str] = {}
    for target in targets:
        other = seen.setdefault(vip(target.host), target.host)
        if other != target.host:
            raise NotRenderable(
                f"{other} and {target.host} meet on VIP {vip(target.host)}: give one of them "
                "its own address by hand"
            )
    return yaml.safe_dump_all([service_entry(t) for t in targets], sort_keys=False)


def render(table: Table, views: Sequence[NameView], names: Sequence[str]) -> str:
    """The entries of the names asked for (`views`, explained); some must be asked."""
    if not names:
        raise NotRenderable(
            "name the Services' names to render, e.g. `globaldns table --format serviceentry "
            f"foo.{table.config.zone}`"
        )
    return as_yaml(targets(table, views))


def targets(table: Table, views: Sequence[NameView]) -> list[Target]:
    """Each view's target: this cluster's own addresses (its cluster-pinned name's answer),
    then the gateways of every other cluster running the service."""
    found = []
    for view in views:
        if view.kind != ClaimKind.SERVICE:
            raise NotRenderable(
                f"{view.name}.{table.config.zone}. is of kind {view.kind.label}; a ServiceEntry "
                "is rendered for a Service's own name (foo.global, httpbin.bar.global)"
            )
        endpoints = []
        for contribution in view.contributions:
            cluster = table.clusters.get(contribution.cluster)
            region = cluster.region if cluster is not None else None
            if contribution.cluster == table.local:
                # Its cluster-pinned name answers its own addresses (unless another name won it).
                local = table.lookup(pinned(view.name, contribution.cluster))
                pin = local is not None and local.kind == ClaimKind.CLUSTER_PIN
                own = local.addresses if local is not None and pin else ()
                endpoints += [Endpoint(a, False, region) for a in own]
            elif cluster is not None:
                endpoints += [Endpoint(a, True, region) for a in cluster.gateways]
        host = f"{view.name}.{table.config.zone}"
        if not any(p.protocol.upper() != "UDP" for p in view.ports):
            raise NotRenderable(
                f"{host}. names no TCP port; Istio needs one in a ServiceEntry (and its sidecars "
                "carry no UDP)"
            )
        found.append(Target(host, view.ports, tuple(endpoints)))
    return found
