"""One cluster's slim records, assembled into what the table takes: Instances, Entries, Cluster.

Runs on the watch thread. Every change to a record recomputes only what depends on it (a
Service and its EndpointSlices make one Instance; a Namespace's identity renames its Services;
nodes and the gateway Service make the Cluster) and hands the result to the `Outbox` only when
it differs from what was last handed over.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from globaldns.sources.kubernetes.handoff import Changes
from globaldns.sources.kubernetes.mcs import EXPORTS, LOCAL_NAMESPACES, export_of
from globaldns.sources.kubernetes.mcs_imports import IMPORT_SLICES, IMPORTS, Imports
from globaldns.sources.kubernetes.options import ClusterOverride
from globaldns.sources.kubernetes.slim import (
    DEFAULT_PROBE_PORT,
    Gateway,
    SlimService,
    SlimSlice,
    dns_host,
)
from globaldns.table.model import Cluster, Entry, Export, Instance

log = logging.getLogger(__name__)

SERVICES, SLICES, NAMESPACES, NODES, ENTRIES = (
    "services",
    "endpointslices",
    "namespaces",
    "nodes",
    "serviceentries",
)


class ClusterView:
    """`put(kind, key, record)` and `replace(kind, records)` are the whole input."""

    def __init__(
        self,
        name: str,
        outbox: Changes,
        override: ClusterOverride,
        gateway_services: tuple[str, ...],
    ) -> None:
        self.name = name
        self.outbox = outbox
        self.override = override
        self.gateway_services = gateway_services
        self.records: dict[str, dict[str, Any]] = defaultdict(dict)
        # service key -> its slices' keys: the key alone for one (most Services: a tuple
        # each cost 14 MiB at 200 x 1,000), a tuple for a few; read through `slice_keys`
        self.slices_of: dict[str, str | tuple[str, ...]] = {}
        self.resolved: dict[str, tuple[str, ...]] = {}  # gateway hostname -> addresses
        self.published = True
        self._adopted = False  # `adopt` took over another view's table data: publish as one
        self._instances: dict[str, Instance] = {}
        self._entries: dict[str, Entry] = {}
        self._exports: dict[str, Export] = {}  # Service key -> what it exports (SPEC §7)
        self._cluster: Cluster | None = None
        self._bad_identity: set[str] = set()
        self.imports = Imports(name, outbox)  # the local cluster's, with --mcs-imports
        self._listing = ""  # the kind `replace` is putting a fresh list of
        self._handlers: dict[str, Callable[[str, Any, Any], None]] = {
            SERVICES: self._on_service,
            SLICES: self._on_slice,
            NAMESPACES: self._on_namespace,
            NODES: self._on_node,
            ENTRIES: self._on_entry,
            EXPORTS: self._on_export,
            LOCAL_NAMESPACES: self._on_local_namespace,
            IMPORTS: self.imports.on_import,
            IMPORT_SLICES: self.imports.on_slice,
        }

    # -- input -----------------------------------------------------------------------------
    def put(self, kind: str, key: str, record: Any) -> None:
        records = self.records[kind]
        old = records.get(key)
        if record is None:
            records.pop(key, None)
        else:
            records[key] = record
        if old != record:
            self._handlers[kind](key, old, record)

    def replace(self, kind: str, records: dict[str, Any]) -> None:
        """A fresh list: whatever is not in it is gone."""
        self._listing = kind
        try:
            for key in [k for k in self.records[kind] if k not in records]:
                self.put(kind, key, None)
            for key, record in records.items():
                self.put(kind, key, record)
        finally:
            self._listing = ""
        if kind == LOCAL_NAMESPACES:  # the namespaces once for the list, not once for each
            self._on_local_namespace("", None, None)

    def set_resolved(self, resolved: dict[str, tuple[str, ...]]) -> None:
        self.resolved = resolved
        self._publish_cluster()

    # -- going away and coming back ----------------------------------------------------------
    def withdraw(self) -> None:
        """Past serve-stale: the table forgets the cluster; records stay to compare against."""
        self.published = False
        self._instances.clear()
        self._entries.clear()
        self._exports.clear()
        self._cluster = None
        self.outbox.drop_cluster(self.name)

    def publish(self) -> None:
        """Back from gone, new, or replacing another view (`adopt`): hand over what the records
        say and the table does not hold yet, and withdraw what they no longer say. A
        replacement goes as one change (Outbox.together), so no name shows half old, half
        gone; anything else in turns, so queries are answered between them (a first sync of
        1,000 Services is some 20 ms of changes)."""
        self.published = True
        together = self.outbox.together(self.name) if self._adopted else contextlib.nullcontext()
        self._adopted = False
        with together:
            self._publish_cluster()
            for key in [*self.records[SERVICES], *self._instances.keys() - self.records[SERVICES]]:
                self._publish_instance(key)
            entries = self.records[ENTRIES]
            for key in [*entries, *self._entries.keys() - entries.keys()]:
                self._publish_entry(key, entries.get(key))
            for key in self._exports.keys() - self.records[SERVICES].keys():
                self._publish_export(key)

    def adopt(self, previous: ClusterView) -> None:
        """Take over what the table holds of this cluster from the view this one replaces (the
        cluster's previous connection), so that `publish` hands over only the difference."""
        self.hold(previous._cluster, previous._instances, previous._entries, previous._exports)

    def hold(
        self,
        cluster: Cluster | None,
        instances: dict[str, Instance],
        entries: dict[str, Entry],
        exports: dict[str, Export],
    ) -> None:
        """What the table holds of this cluster (from a previous connection or watch process):
        the next `publish` replaces it, in one change, handing over only the difference."""
        self._cluster = cluster
        self._instances = instances
        self._entries = entries
        self._exports = exports
        self._adopted = True

    # -- derived: the Cluster ----------------------------------------------------------------
    def gateway(self) -> tuple[str, Gateway] | None:
        """The first configured gateway Service found, and its key."""
        services = self.records[SERVICES]
        for key in self.gateway_services:
            found = services.get(key)
            if found is not None and found.gateway is not None:
                return key, found.gateway
        return None

    def gateway_hostnames(self) -> tuple[str, ...]:
        found = self.gateway()
        return found[1].hostnames if found else ()

    def gateway_ready(self, key: str) -> bool:
        """False when the gateway Service's EndpointSlices list no ready endpoint; True when
        it has none at all (no selector): then probes alone judge it."""
        own = self.slice_keys(key)
        return not own or any(self.records[SLICES][k].ready for k in own)

    def slice_keys(self, service: str) -> tuple[str, ...]:
        """The keys of a Service's slices, however `slices_of` holds them."""
        own = self.slices_of.get(service, ())
        return (own,) if isinstance(own, str) else own

    def cluster(self) -> Cluster:
        region = self.override.region
        if region is None:
            counts = Counter(r for r in self.records[NODES].values() if r)
            region = min(counts, key=lambda r: (-counts[r], r)) if counts else None
        found = self.gateway()
        gateways = self.override.gateways
        if gateways is None:
            addresses: list[str] = list(found[1].ips) if found else []
            for hostname in found[1].hostnames if found else ():
                addresses.extend(self.resolved.get(hostname, ()))
            gateways = tuple(dict.fromkeys(addresses))
        return Cluster(
            self.name,
            region.lower() if region else None,
            gateways,
            probe_port=found[1].probe_port if found else DEFAULT_PROBE_PORT,
            gateway_ready=self.gateway_ready(found[0]) if found else True,
        )

    def _publish_cluster(self) -> None:
        cluster = self.cluster()
        if self.published and cluster != self._cluster:
            self._cluster = cluster
            self.outbox.put_cluster(cluster)

    # -- derived: Instances ------------------------------------------------------------------
    def host_of(self, service: SlimService) -> str:
        identity = service.identity or self.records[NAMESPACES].get(service.namespace)
        host = dns_host(identity)
        if identity and host is None:
            key = f"{service.namespace}/{service.name}"
            if key not in self._bad_identity:
                self._bad_identity.add(key)
                log.warning(
                    "cluster %s: Service %s: identity %r is not a DNS name; serving it as %s.%s",
                    self.name, key, identity, service.name, service.namespace,
                )  # fmt: skip
        return sys.intern(host or f"{service.name}.{service.namespace}")  # one per host

    def instance(self, key: str) -> Instance | None:
        service: SlimService | None = self.records[SERVICES].get(key)
        if service is None or not service.exported:
            return None
        slices: dict[str, SlimSlice] = self.records[SLICES]
        own = [slices[k] for k in sorted(self.slice_keys(key))]
        ready = sum(s.ready for s in own)
        if service.headless:
            addresses = tuple(dict.fromkeys(a for s in own for a in s.ready_addresses))
            if not addresses:
                addresses = tuple(dict.fromkeys(a for s in own for a in s.addresses))
        else:
            addresses = service.cluster_ips
        return Instance(self.host_of(service), addresses, ready, service.ports)

    def _publish_instance(self, key: str) -> None:
        if not self.published:
            return
        self._publish_export(key)
        instance = self.instance(key)
        if self._instances.get(key) == instance:
            return
        if instance is None:
            del self._instances[key]
        else:
            self._instances[key] = instance
        self.outbox.put_instance(self.name, key, instance)

    def _publish_export(self, key: str) -> None:
        """What the Service exports to the clusterset: it, its slices and its ServiceExport."""
        if key not in self.records[EXPORTS] and key not in self._exports:
            return  # most Services: nothing to work out
        service: SlimService | None = self.records[SERVICES].get(key)
        slices = [self.records[SLICES][k] for k in sorted(self.slice_keys(key))]
        host = self.host_of(service) if service is not None else ""
        export = export_of(service, slices, self.records[EXPORTS].get(key), host)
        if self._exports.get(key) == export:
            return
        if export is None:
            del self._exports[key]
        else:
            self._exports[key] = export
        self.outbox.put_export(self.name, key, export)

    def _publish_entry(self, key: str, entry: Entry | None) -> None:
        if not self.published or self._entries.get(key) == entry:
            return
        if entry is None:
            del self._entries[key]
        else:
            self._entries[key] = entry
        self.outbox.put_entry(self.name, key, entry)

    # -- handlers ----------------------------------------------------------------------------
    def _on_service(self, key: str, old: SlimService | None, new: SlimService | None) -> None:
        self._publish_instance(key)
        if key in self.gateway_services:
            self._publish_cluster()

    def _on_slice(self, key: str, old: SlimSlice | None, new: SlimSlice | None) -> None:
        if old is not None and (new is None or new.service != old.service):
            rest = tuple(k for k in self.slice_keys(old.service) if k != key)
            if rest:
                self.slices_of[old.service] = rest[0] if len(rest) == 1 else rest
            else:
                self.slices_of.pop(old.service, None)
            self._publish_instance(old.service)
        if new is not None:
            own = self.slice_keys(new.service)
            if key not in own:
                self.slices_of[new.service] = (*own, key) if own else key
            self._publish_instance(new.service)
        if {s.service for s in (old, new) if s is not None} & set(self.gateway_services):
            self._publish_cluster()

    def _on_namespace(self, name: str, old: str | None, new: str | None) -> None:
        for key, service in self.records[SERVICES].items():
            if service.namespace == name:
                self._publish_instance(key)

    def _on_node(self, name: str, old: str | None, new: str | None) -> None:
        self._publish_cluster()

    def _on_entry(self, key: str, old: Entry | None, new: Entry | None) -> None:
        self._publish_entry(key, new)

    def _on_export(self, key: str, old: object, new: object) -> None:
        if self.published:
            self._publish_export(key)

    def _on_local_namespace(self, name: str, old: object, new: object) -> None:
        if self._listing != LOCAL_NAMESPACES:
            self.outbox.put_namespaces(frozenset(self.records[LOCAL_NAMESPACES]))
