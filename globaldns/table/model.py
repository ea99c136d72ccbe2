"""Slim records the table is fed with: what DNS needs of the mesh, nothing of the API objects.

Sources (mesh file, Kubernetes) strip their inputs down to these at the edge and hand them to
a `TableSink`; the table never sees a whole API object.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from globaldns.dns.compile import Port as Port  # what a port is, the compiler's: SRV records
from globaldns.dns.wire import Unfit


def is_remote(cluster: str, local: str | None) -> bool:
    """Whether `cluster` is another than the one this server runs in (all are, without one)."""
    return cluster != local


@dataclass(frozen=True, slots=True)
class Cluster:
    """A cluster as DNS sees it: where it is and how other clusters reach it."""

    name: str
    region: str | None = None
    gateways: tuple[str, ...] = ()
    # TCP port its gateways are probed on; None: not probed (judged up until told otherwise).
    probe_port: int | None = None
    # False when the gateway Service's EndpointSlices list no ready endpoint: down at once.
    # True also when it has no slices at all (no selector): then probes alone judge it.
    gateway_ready: bool = True


@dataclass(frozen=True, slots=True)
class Instance:
    """One service as one cluster runs it.

    `host` is the name relative to the zone (``foo`` or ``httpbin.bar``); `addresses` are what
    the local cluster answers with (ClusterIPs, or ready endpoint addresses when headless);
    `ready` counts ready endpoints.
    """

    host: str
    addresses: tuple[str, ...]
    ready: int
    ports: tuple[Port, ...] = ()


class Resolution(StrEnum):
    """An Istio ServiceEntry's `resolution`. With NONE the sidecar forwards to the address the
    client dialled, so a VIP in DNS would point clients at no workload: istiocoredns named none."""

    NONE = "NONE"
    STATIC = "STATIC"
    DNS = "DNS"
    DNS_ROUND_ROBIN = "DNS_ROUND_ROBIN"


def entry_address(value: str) -> str | None:
    """A ServiceEntry address as istiocoredns read it: an IP, or a CIDR of one address (/32,
    /128), as that address; None for a wider CIDR (no one VIP). ValueError for neither."""
    network = ipaddress.ip_network(value, strict=False)
    return str(network.network_address) if network.num_addresses == 1 else None


@dataclass(frozen=True, slots=True)
class Entry:
    """An Istio ServiceEntry's `.global` hosts (relative to the zone; `*.shard` a wildcard) and
    the VIPs they answer."""

    hosts: tuple[str, ...]
    addresses: tuple[str, ...]
    ports: tuple[Port, ...] = field(default=())
    name: str = ""  # as its source names it (namespace/name, serviceEntries[i]), to explain
    skipped: Unfit | None = None  # why it names nothing whatever the flags (RESOLUTION_NONE...)
    # Hosts outside the zone, absolute (`legacy.example.com.`): named nothing, explained.
    outside: tuple[str, ...] = ()


class ServiceKind(StrEnum):
    """A ServiceImport's `spec.type` (KEP-1645): a virtual IP, or the endpoints themselves."""

    CLUSTERSET_IP = "ClusterSetIP"
    HEADLESS = "Headless"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ready endpoint of a headless service: its per-pod name's first label (the
    endpoint's hostname, else its pod's name; "" for neither: no per-pod name) and addresses."""

    hostname: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Export:
    """A Service as one cluster exports it.

    `host` is the same Service's name in `global.` (`Instance.host`): a change to what the
    index says of that host (its clusters' gateways, their health) recompiles this too.
    `since` is the export's creationTimestamp (seconds since the epoch): when clusters export
    a service differently, the oldest export wins (KEP-1645).
    """

    name: str
    namespace: str
    host: str
    kind: ServiceKind
    addresses: tuple[str, ...]  # ClusterIPs (a headless service has none)
    ready: int
    ports: tuple[Port, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()  # ready ones, headless only
    since: float = 0.0
    # The addresses are a ServiceImport's `spec.ips` (the imports feed): answered as they are.
    vip: bool = False
    # From the imports feed (a ServiceImport and its labelled slices), not a watched Service:
    # it also names `host` in `global.` (`table.imported`). A ClusterSetIP import's
    # `endpoints` then hold its ready addresses (unnamed), `global.`'s last tier.
    imported: bool = False

    @property
    def service(self) -> str:
        """The service's key in the clusterset: `name.namespace`."""
        return f"{self.name}.{self.namespace}".lower()


@dataclass(frozen=True, slots=True)
class GatewayHealth:
    """What probing says of one gateway address; an address never probed yet counts as up."""

    up: bool
    since: float  # wall-clock time (time.time()) of the last change between up and down
    error: str = ""  # the last failure, e.g. "refused 3 times", for reasons and /table


class TableSink(Protocol):
    """What a source writes into. Changes take effect together at `commit`.

    `key` identifies the object inside its cluster (e.g. ``namespace/name``) so that a source
    can move an object to another host, or drop it, without remembering what it said before.
    """

    def put_cluster(self, cluster: Cluster) -> None: ...

    def drop_cluster(self, name: str) -> None:
        """Forget the cluster and everything it contributed."""

    def put_instance(self, cluster: str, key: str, instance: Instance | None) -> None: ...

    def put_entry(self, cluster: str, key: str, entry: Entry | None) -> None: ...

    def put_gateway_health(self, cluster: str, address: str, health: GatewayHealth | None) -> None:
        """Probe results for one address of a cluster's gateways; None forgets it (up)."""

    def put_export(self, cluster: str, key: str, export: Export | None) -> None:
        """A Service the cluster exports to the clusterset (SPEC §7), or None: no longer."""

    def put_namespaces(self, namespaces: frozenset[str] | None) -> None:
        """The local cluster's namespaces: clusterset names exist only for these (None: every
        namespace counts, as when no source says which exist)."""

    def note_time(self, changed: float) -> None:
        """When the source's data last changed, by the source's own clock (a file's mtime):
        the SOA serial of the next commit that changes the zone (see `Table.commit`)."""

    def set_complete(self, complete: bool) -> None:
        """False while a cluster is still trying its first sync: names nobody holds answer SERVFAIL.

        True (the default) once every cluster synced once: NXDOMAIN as usual.
        """

    def commit(self, budget: float | None = None) -> bool:
        """Recompile the names the changes since the last commit touched.

        With a `budget` in seconds it may stop early and return False: call again to go on.
        """

    def reclaim(self, until: float) -> bool:
        """Only the first step of `commit`, until `time.perf_counter()` passes `until`:
        whether it is done (the commit scheduler applies no more changes until it is)."""
