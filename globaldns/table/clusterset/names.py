"""What each name of one exported service answers in `clusterset.local` (SPEC §7).

A ClusterSetIP service without a VIP answers by the local-first policy of `global.` (`policy`):
its own name A/AAAA, and one SRV per named port targeting it. A headless service answers the
ready endpoints of every cluster that exports it, each endpoint with a hostname (or a pod
name) also by its per-pod name `<hostname>.<clusterid>.<svc>.<ns>.svc`, and one SRV per ready
endpoint and named port targeting that name. Names are relative to the zone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from globaldns.dns.compile import Tier, srv_names
from globaldns.dns.wire import unfit
from globaldns.table.claims import ClaimKind
from globaldns.table.clusterset.exports import Combined
from globaldns.table.index import Index
from globaldns.table.model import Instance, ServiceKind, is_remote
from globaldns.table.policy import resolve
from globaldns.table.views import NameView, service_view


@dataclass(frozen=True, slots=True)
class Srv:
    """One SRV record: a port of `target` (a name of the same service, relative)."""

    port: int
    target: str


@dataclass(frozen=True, slots=True)
class Owner:
    """One name a service puts in the zone: addresses (`view`, what `/table` shows of it) or
    SRV records (`srv`), answered as `tier` counts."""

    name: str
    tier: Tier
    view: NameView | None = None
    srv: tuple[Srv, ...] = ()


def service_owners(
    service: str, combined: Combined, index: Index, zone: str, explain: bool = False
) -> tuple[Owner, ...]:
    """Every name of `service` (`name.namespace`); none when nothing answers it."""
    base = f"{service}.svc"
    if combined.kind == ServiceKind.HEADLESS:
        return _headless(base, combined, index.local, zone)
    vips = tuple(dict.fromkeys(a for e in combined.used.values() if e.vip for a in e.addresses))
    if vips:  # an MCS implementation's VIP: the same in every cluster, answered as it is
        why = "the ServiceImport's spec.ips"
        clusters = tuple(sorted(combined.used))
        view = NameView(base, ClaimKind.SERVICE, Tier.ENTRY, clusters, combined.ports, why,
                        (vips,), zone=zone)  # fmt: skip
        return _with_srv(base, _noting(view, combined), combined)
    instances = {
        cluster: Instance(export.host, export.addresses, export.ready, export.ports)
        for cluster, export in combined.used.items()
    }
    resolution = resolve(instances, index.sites, index.local, None, explain)
    if resolution is None:
        return ()
    view = service_view(base, ClaimKind.SERVICE, resolution, combined.ports)
    return _with_srv(base, _noting(dataclasses.replace(view, zone=zone), combined), combined)


def _with_srv(base: str, view: NameView, combined: Combined) -> tuple[Owner, ...]:
    """A ClusterSetIP name and its SRV names, one per named port, each targeting it."""
    srv = [
        Owner(name, view.answer_tier, srv=(Srv(port.port, base),))
        for name, port in srv_names(base, combined.ports)
    ]
    return (Owner(base, view.answer_tier, view), *srv)


def _headless(base: str, combined: Combined, local: str | None, zone: str) -> tuple[Owner, ...]:
    """The ready endpoints of every exporting cluster; NXDOMAIN (no names) with none ready."""
    pods: dict[str, tuple[str, list[str]]] = {}  # per-pod name -> cluster, addresses
    every: dict[str, None] = {}
    for cluster, export in sorted(combined.used.items()):
        for endpoint in export.endpoints:
            every.update(dict.fromkeys(endpoint.addresses))
            name = f"{endpoint.hostname}.{cluster}.{base}".lower()
            if endpoint.hostname and endpoint.addresses and unfit(f"{name}.{zone}") is None:
                pods.setdefault(name, (cluster, []))[1].extend(endpoint.addresses)
    addresses = tuple(every)
    if not addresses:
        return ()
    clusters = tuple(sorted({cluster for cluster, _ in pods.values()} | set(combined.used)))
    remote = any(is_remote(cluster, local) for cluster in clusters)
    tier = Tier.REMOTE if remote else Tier.LOCAL
    why = "headless: the ready endpoints of every exporting cluster"
    view = NameView(base, ClaimKind.SERVICE, tier, clusters, combined.ports, why,
                    (addresses,), zone=zone)  # fmt: skip
    owners = [Owner(base, tier, _noting(view, combined))]
    for name, (cluster, found) in pods.items():
        held = tuple(dict.fromkeys(found))
        why = f"endpoint {name.partition('.')[0]} of {cluster}"
        pod = NameView(name, ClaimKind.CLUSTER_PIN, Tier.PINNED, (cluster,), (), why, (held,),
                       zone=zone)  # fmt: skip
        owners.append(Owner(name, Tier.PINNED, pod))
    for srv_name, port in srv_names(base, combined.ports):
        targets = tuple(Srv(port.port, name) for name in pods)
        if targets:
            owners.append(Owner(srv_name, tier, srv=targets))
    return tuple(owners)


def _noting(view: NameView, combined: Combined) -> NameView:
    """The view with the conflicts between its exports said after its reason."""
    if not combined.conflicts:
        return view
    said = "; ".join(combined.conflicts)
    return dataclasses.replace(view, why=f"{view.reason}; conflict: {said}")
