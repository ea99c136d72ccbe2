"""What the sources said, one home per fact: clusters, their gateways' health and judgement,
services per host and cluster, their ports, regions, ServiceEntries.

Every naming scheme's zone compiles from this one index (`pipeline.py`). Only the `put_*`
methods write it; each says what it changed, so the table knows which names to recompile, and
keeps the derived lookups (a cluster's objects by key, a region's clusters, the objects of one
cluster merged per host, a host's ports) in step in the same place.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable

from globaldns.dns.wire import Unfit
from globaldns.table.model import (
    Cluster,
    Entry,
    Export,
    GatewayHealth,
    Instance,
    Port,
    is_remote,
)
from globaldns.table.sites import Sites, gateway, site

# What one `put_instance` changed: the host an object left (and whether its cluster left that
# host with it) and the host it names now. A plain tuple: a first sync makes one per object.
Moved = tuple[str | None, bool, str | None]
# What `Index.instances` holds of one cluster for one host: the key of its one object, or
# several objects by key.
Objects = str | dict[str, Instance]


class Index:
    """The mesh as the sources describe it; `sites` is the one judgement of every gateway."""

    def __init__(self, local_cluster: str | None) -> None:
        self.local = local_cluster
        # What the sources said: each fact here, and only here.
        self.clusters: dict[str, Cluster] = {}
        self.health: dict[str, dict[str, GatewayHealth]] = {}  # cluster -> address -> probe result
        # host -> cluster -> its objects naming the host: the key of the one object (the object
        # is `merged`'s), or key -> object when several do (a dict per pair cost 40 MiB at
        # 200 clusters x 1,000 services, where nearly every pair has one)
        self.instances: dict[str, dict[str, Objects]] = {}
        self.entries: dict[tuple[str, str], Entry] = {}  # (cluster, key) ->
        # The imports feed as `global.` reads it: host -> source cluster -> what it has (the
        # clusterset's `Exports` holds the same records by service, for its own names).
        self.imports: dict[str, dict[str, Export]] = {}
        self._imported_at: dict[tuple[str, str], str] = {}  # (cluster, key) -> host
        # Derived from those, by the method that writes them, and never written elsewhere:
        # cluster -> its gateways as judged by `health`: the only place an address is up or down
        self.sites = Sites()
        self.regions: dict[str, set[str]] = defaultdict(set)  # region -> its clusters
        self.merged: dict[str, dict[str, Instance]] = {}  # host -> cluster -> its objects as one
        # host -> the clusters of `merged` without a ready endpoint (absent: none): so the remote
        # tier of a name every cluster runs reads no instance (`policy.resolve`)
        self.unready: dict[str, set[str]] = {}
        self.where: dict[str, dict[str, str]] = defaultdict(dict)  # cluster -> key -> host
        self._ports: dict[str, tuple[Port, ...]] = {}  # host -> its ports, while unchanged

    # -- clusters and gateways ---------------------------------------------------------------
    def put_cluster(self, cluster: Cluster) -> Cluster | None:
        """Store a cluster (not the same as held); the one it replaces, if any."""
        old = self.clusters.get(cluster.name)
        self.clusters[cluster.name] = cluster
        if old is not None and old.region:
            self.regions[old.region].discard(cluster.name)
        if cluster.region:
            self.regions[cluster.region].add(cluster.name)
        known = self.health.get(cluster.name, {})
        for address in [a for a in known if a not in cluster.gateways]:
            del known[address]  # no longer listed: a later return starts up again
        self.sites.put(site(cluster, known))
        return old

    def drop_cluster(self, name: str) -> Cluster | None:
        """Forget a cluster's own facts (its objects are dropped one by one before)."""
        self.where.pop(name, None)
        self.health.pop(name, None)
        self.sites.drop(name)
        gone = self.clusters.pop(name, None)
        if gone is not None and gone.region:
            self.regions[gone.region].discard(name)
        return gone

    def put_gateway_health(self, cluster: str, address: str, health: GatewayHealth | None) -> bool:
        """Store what probing says; whether the cluster's gateways are judged otherwise now
        (up or down, or the error, of a listed address)."""
        known = self.health.setdefault(cluster, {})
        before = gateway(address, known.get(address))
        if health is None:
            known.pop(address, None)
        else:
            known[address] = health
        listed = self.clusters.get(cluster)
        if gateway(address, health) == before or listed is None or address not in listed.gateways:
            return False  # an address not (yet) listed counts once put_cluster lists it
        self.sites.put(site(listed, known))
        return True

    def region(self, cluster: str) -> str | None:
        known = self.clusters.get(cluster)
        return known.region if known is not None else None

    # -- services ------------------------------------------------------------------------
    def put_instance(self, cluster: str, key: str, instance: Instance | None) -> Moved:
        old_host = self.where[cluster].pop(key, None)
        # Interned: the host is a key in several maps, and the same in every cluster.
        new_host = sys.intern(instance.host.lower().strip(".")) if instance is not None else None
        # What the cluster answered for each host before, to see whether their ports change.
        was = self.merged[old_host][cluster] if old_host is not None else None
        if new_host is not None and new_host != old_host:
            known = self.merged.get(new_host)
            was_new = known.get(cluster) if known is not None else None
        else:
            was_new = was
        left = False
        if old_host is not None:
            held = self.instances[old_host]
            keys = self.objects(old_host, cluster)
            del keys[key]
            if keys:
                held[cluster] = _held(keys)
                self._merged(old_host, cluster, _merge(keys))
            else:
                del held[cluster]
            if not keys and old_host != new_host:
                left = True  # the host's set of clusters changed
                self._merged(old_host, cluster, None)
                if not held:
                    del self.instances[old_host], self.merged[old_host]
                    self._ports.pop(old_host, None)
        if instance is not None and new_host is not None:
            clusters = self.instances.setdefault(new_host, {})
            keys = self.objects(new_host, cluster) if cluster in clusters else {}
            keys[key] = instance
            clusters[cluster] = _held(keys)
            self._merged(new_host, cluster, _merge(keys))
            self.where[cluster][key] = new_host
        if old_host is not None and old_host != new_host:
            self._ports_changed(old_host, was, self.merged.get(old_host, {}).get(cluster))
        if new_host is not None:
            self._ports_changed(new_host, was_new, self.merged[new_host][cluster])
        return old_host, left, new_host

    def _merged(self, host: str, cluster: str, merged: Instance | None) -> None:
        """Set (None: forget) what one cluster answers for a host, and whether it is ready."""
        if merged is not None:
            self.merged.setdefault(host, {})[cluster] = merged
        else:
            del self.merged[host][cluster]
        unready = self.unready.get(host)
        if merged is not None and merged.ready <= 0:
            if unready is None:
                unready = self.unready[host] = set()
            unready.add(cluster)
        elif unready is not None:
            unready.discard(cluster)
            if not unready:
                del self.unready[host]

    def objects(self, host: str, cluster: str) -> dict[str, Instance]:
        """The objects of one cluster that name `host`, by key (a new dict for one)."""
        held = self.instances[host][cluster]
        return {held: self.merged[host][cluster]} if isinstance(held, str) else held

    def _ports_changed(self, host: str, before: Instance | None, after: Instance | None) -> None:
        """Forget a host's ports when what one cluster answers for it names other ports.

        They stand when a cluster joins with none or the very same (wherever it sorts, each
        port's first holder names it alike): re-sorting every cluster per join made a sync
        quadratic. Any other change, an object added beside another included, forgets them.
        """
        old = before.ports if before is not None else ()
        new = after.ports if after is not None else ()
        if old is not new and old != new and not (before is None and new == self._ports.get(host)):
            self._ports.pop(host, None)

    def hosts_in(self, cluster: str) -> set[str]:
        """The hosts a cluster runs: what its objects name."""
        return set(self.where.get(cluster, {}).values())

    def host_ports(self, host: str) -> tuple[Port, ...]:
        """A service's ports, the local cluster's first: one number per port name and protocol."""
        ports = self._ports.get(host)
        if ports is None:
            ports = self._ports[host] = self.ports_of(self.merged.get(host, {}))
        return ports

    def ports_of(self, instances: dict[str, Instance]) -> tuple[Port, ...]:
        """The ports of these clusters' instances, the local cluster's first, then by name."""
        order = sorted(instances, key=lambda cluster: (is_remote(cluster, self.local), cluster))
        return unique_ports(p for c in order for p in instances[c].ports)

    # -- imports ---------------------------------------------------------------------------
    def put_import(self, cluster: str, key: str, export: Export | None) -> set[str]:
        """Store or forget what one source cluster has of an import (an `Export` the imports
        feed made; any other is forgotten); the hosts whose `global.` name may change."""
        hosts: set[str] = set()
        old = self._imported_at.pop((cluster, key), None)
        if old is not None:
            hosts.add(old)
            held = self.imports[old]
            del held[cluster]
            if not held:
                del self.imports[old]
        if export is not None and export.imported:
            host = sys.intern(export.host.lower().strip("."))
            self.imports.setdefault(host, {})[cluster] = export
            self._imported_at[(cluster, key)] = host
            hosts.add(host)
        return hosts

    # -- ServiceEntries --------------------------------------------------------------------
    def put_entry(self, cluster: str, key: str, entry: Entry | None) -> set[str]:
        """Store or forget an entry; the hosts whose claims may change: relative ones lower-cased
        without dots around (`db`), those outside the zone absolute (`legacy.example.com.`)."""
        hosts: set[str] = set()
        old = self.entries.pop((cluster, key), None)
        if old is not None:
            hosts.update(_lower_hosts(old), old.outside)
        if entry is not None:
            self.entries[(cluster, key)] = entry
            hosts.update(_lower_hosts(entry), entry.outside)
        return hosts

    def entries_of(self, host: str) -> list[tuple[tuple[str, str], Entry]]:
        """The entries that list a host, by (cluster, key): so the first port of a name, and
        the entry that explains a skipped host, never depend on arrival order. A host outside
        the zone is absolute, with its trailing dot (`legacy.example.com.`)."""
        if host.endswith("."):
            held = ((w, e) for w, e in self.entries.items() if host in e.outside)
        else:
            held = ((w, e) for w, e in self.entries.items() if host in _lower_hosts(e))
        return sorted(held, key=lambda item: item[0])


def entry_vips(entry: Entry, default: tuple[str, ...]) -> tuple[str, ...]:
    """An entry's addresses; one given none answers --default-address (istiocoredns's)."""
    return entry.addresses or default


def entry_skip(entry: Entry, default: tuple[str, ...]) -> Unfit | None:
    """Why an entry names nothing (istiocoredns's rules), or None when it names its hosts."""
    if entry.skipped is None and not entry_vips(entry, default):
        return Unfit.NO_ADDRESS
    return entry.skipped


def _held(keys: dict[str, Instance]) -> Objects:
    """How `Index.instances` holds a cluster's objects of one host: one by its key alone."""
    return next(iter(keys)) if len(keys) == 1 else keys


def _merge(keys: dict[str, Instance]) -> Instance:
    """Several objects of one cluster that name the same host answer together."""
    if len(keys) == 1:
        return next(iter(keys.values()))
    ordered = [keys[key] for key in sorted(keys)]
    return Instance(
        host=ordered[0].host,
        addresses=tuple(dict.fromkeys(a for i in ordered for a in i.addresses)),
        ready=sum(i.ready for i in ordered),
        ports=unique_ports(p for i in ordered for p in i.ports),
    )


def unique_ports(ports: Iterable[Port]) -> tuple[Port, ...]:
    """The first port of each (name, protocol), so a port name means one number per answer."""
    seen: dict[tuple[str, str], Port] = {}
    for port in ports:
        seen.setdefault((port.name, port.protocol.upper()), port)
    return tuple(seen.values())


def _lower_hosts(entry: Entry) -> set[str]:
    return {host.lower().strip(".") for host in entry.hosts}
