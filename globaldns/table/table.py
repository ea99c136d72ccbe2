"""The table: the front the sources write to, and what the server and the views read.

Sources write slim records through the `TableSink` methods. The table stores them in the index
(`index.py`, one home per fact), tells each zone's pipeline (`pipeline.py`) which hosts they
touch (a service's names, its pinned names for the changed cluster and that cluster's region),
and `commit` recompiles those names into the zone the responder reads. A gateway health change
touches the same names of every host that cluster runs, and no others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from globaldns.dns.zone import Zone, ZoneConfig
from globaldns.table.claims import Unserved
from globaldns.table.clusterset.exports import Exports
from globaldns.table.clusterset.pipeline import ClustersetPipeline
from globaldns.table.index import Index
from globaldns.table.model import Cluster, Entry, Export, GatewayHealth, Instance, is_remote
from globaldns.table.pipeline import Pipeline
from globaldns.table.scheme import GlobalScheme, NamingScheme
from globaldns.table.sites import Site
from globaldns.table.views import NameView as NameView  # what `view` and `lookup` give


class Table:
    """Implements `TableSink`; `zone` is what the DNS servers answer from.

    `pipeline` compiles the `global.` zone (a subclass may be given, e.g. by tests); each of
    `zones` (a config and a naming scheme) is another zone compiled from the same index, in
    `pipelines` after it. The views and counters are the `global.` zone's. With a
    `clusterset` config, the exports (`put_export`) compile into `clusterset.zone` too.
    """

    def __init__(
        self,
        config: ZoneConfig,
        local_cluster: str | None = None,
        pipeline: type[Pipeline] = Pipeline,
        zones: Sequence[tuple[ZoneConfig, NamingScheme]] = (),
        clusterset: ZoneConfig | None = None,
    ) -> None:
        self.config = config
        self.local = local_cluster
        self.index = Index(local_cluster)
        self.pipeline = pipeline(config, self.index, GlobalScheme())
        self.zone: Zone = self.pipeline.zone
        others: list[Pipeline] = [Pipeline(other, self.index, scheme) for other, scheme in zones]
        self.exports = Exports()
        self.clusterset = None
        if clusterset is not None:
            self.clusterset = ClustersetPipeline(clusterset, self.index, self.exports)
            others.append(self.clusterset)
        self.pipelines = (self.pipeline, *others)

    # -- TableSink ------------------------------------------------------------------------
    def put_cluster(self, cluster: Cluster) -> None:
        old = self.index.clusters.get(cluster.name)
        if old == cluster:
            return
        self.index.put_cluster(cluster)
        self._changed()  # its pinned names' answers, compiled or not, may change
        moved = old is None or old.region != cluster.region
        if moved and not is_remote(cluster.name, self.local):
            self._touch_every_host()  # near and far change for every name
            return
        for host in self.index.hosts_in(cluster.name):
            self._touch(host, None if moved else cluster.name)  # None: its region pins

    def drop_cluster(self, name: str) -> None:
        for key in list(self.index.where.get(name, ())):
            self.put_instance(name, key, None)
        for cluster, key in [where for where in self.index.entries if where[0] == name]:
            self.put_entry(cluster, key, None)
        for key in self.exports.keys_in(name):
            self.put_export(name, key, None)
        gone = self.index.drop_cluster(name)
        self._changed()
        if gone is not None and not is_remote(name, self.local):
            self._touch_every_host()

    def put_gateway_health(self, cluster: str, address: str, health: GatewayHealth | None) -> None:
        """Store what probing says; names recompile only when up/down or the error changes."""
        if not self.index.put_gateway_health(cluster, address, health):
            return
        if not is_remote(cluster, self.local):
            return  # the local tier is never judged by health
        self._changed()  # its pinned names answer other gateways
        for host in self.index.hosts_in(cluster):
            self._touch(host, cluster)

    def put_instance(self, cluster: str, key: str, instance: Instance | None) -> None:
        old_host, cluster_left, new_host = self.index.put_instance(cluster, key, instance)
        if old_host is not None:
            if cluster_left:
                self._touch(old_host, None)  # its set of clusters changed
            self._touch(old_host, cluster)
        if new_host is not None:
            # A cluster new to the host: its claims grow at commit (`Claims.reclaim_host`).
            self._touch(new_host, cluster)

    def put_entry(self, cluster: str, key: str, entry: Entry | None) -> None:
        hosts = self.index.put_entry(cluster, key, entry)
        for pipeline in self.pipelines:
            pipeline.touch_entries(hosts)

    def put_export(self, cluster: str, key: str, export: Export | None) -> None:
        touched = self.exports.put(cluster, key, export)
        if self.clusterset is not None:
            self.clusterset.touch_services(touched)
        for host in self.index.put_import(cluster, key, export):
            self._touch(host, None)  # its claim's kind may change (`Claims.service_kind`)

    def put_namespaces(self, namespaces: frozenset[str] | None) -> None:
        touched = self.exports.set_namespaces(namespaces)
        if self.clusterset is not None:
            self.clusterset.touch_services(touched)

    def set_complete(self, complete: bool) -> None:
        """False takes effect at once; True once a commit has compiled every pending name.

        So the names of a cluster that just synced are in the zone before a missing name
        answers NXDOMAIN again (a budgeted commit may take several turns).
        """
        for pipeline in self.pipelines:
            pipeline.set_complete(complete)

    def note_time(self, changed: float) -> None:
        for pipeline in self.pipelines:
            pipeline.source_time = changed

    def commit(self, budget: float | None = None) -> bool:
        """Recompile what the changes touched, zone by zone (see `Pipeline.commit`); whether
        every zone is done."""
        done = True
        for pipeline in self.pipelines:
            done = pipeline.commit(budget) and done
        return done

    def reclaim(self, until: float) -> bool:
        """The first step of a commit alone: the claims of the hosts changes touched, in every
        zone, until `time.perf_counter()` passes `until` (see `Pipeline.reclaim`); whether all
        are. The commit scheduler applies no more changes until they are."""
        done = True
        for pipeline in self.pipelines:
            done = pipeline.reclaim(until) and done
        return done

    def _touch(self, host: str, cluster: str | None) -> None:
        for pipeline in self.pipelines:
            pipeline.touch(host, cluster)

    def _touch_every_host(self) -> None:
        for host in self.index.instances:
            self._touch(host, None)

    def _changed(self) -> None:
        """Answers may change though no name is recompiled: the serial moves at the commit."""
        for pipeline in self.pipelines:
            pipeline.changed = True

    @property
    def pending(self) -> int:
        """Names whose recompilation a budgeted commit left for later, in every zone."""
        return sum(pipeline.pending for pipeline in self.pipelines)

    # -- reading --------------------------------------------------------------------------
    @property
    def clusters(self) -> Mapping[str, Cluster]:
        return self.index.clusters

    @property
    def health(self) -> Mapping[str, Mapping[str, GatewayHealth]]:
        """cluster -> address -> the last probe result that changed its verdict."""
        return self.index.health

    @property
    def sites(self) -> Mapping[str, Site]:
        """cluster -> its gateways, judged: the only place an address is up or down."""
        return self.index.sites

    def views(self) -> Iterator[NameView]:
        """Every name, sorted (unexplained: `lookup` explains one)."""
        return self.pipeline.views()

    def names(self) -> list[str]:
        """Every claimed name, unsorted: a copy (one C-level call, cheap at any size) that the
        caller may keep and read a slice at a time while the table changes. The clusterset
        zone's names follow, with that zone (`web.bar.svc.clusterset.local`)."""
        names = list(self.pipeline.claims.by_name)
        if self.clusterset is not None:
            zone = self.clusterset.config.zone
            names += [f"{name}.{zone}" for name in self.clusterset.names()]
        return names

    def view(self, name: str) -> NameView | None:
        """One name of `names()` as `views()` shows it; None when it is not in the zone (or no
        longer claimed)."""
        clusterset = self.clusterset
        if clusterset is not None and _within(name, clusterset.config.zone):
            return clusterset.view(name[: -len(clusterset.config.zone) - 1])
        return self.pipeline.view(name)

    def lookup(self, name: str) -> NameView | None:
        """One name, explained (see `Pipeline.lookup`); a clusterset name by its zone's."""
        if self.clusterset is not None and _within(name, self.clusterset.config.zone):
            return self.clusterset.lookup(name)
        return self.pipeline.lookup(name)

    @property
    def size(self) -> int:
        """Names claimed: cheap to read at every scrape; a pinned name that nothing can answer
        (its cluster lists no gateway address) counts, though it answers NXDOMAIN."""
        return len(self.pipeline.claims.by_name)

    @property
    def conflicts(self) -> int:
        """Names ever claimed more than one way."""
        return self.pipeline.claims.conflicts

    @property
    def internal_errors(self) -> int:
        """Names whose compilation failed (a bug): they kept their answer."""
        return self.pipeline.internal_errors

    @property
    def commits(self) -> int:
        return self.pipeline.commits

    @property
    def unserved(self) -> Mapping[str, Unserved]:
        """Names that cannot be DNS names, and why."""
        return self.pipeline.claims.unserved

    @property
    def skipped(self) -> list[int]:
        """Those names, counted once each, by reason (`Unfit`)."""
        return self.pipeline.claims.skipped


def _within(name: str, zone: str) -> bool:
    """Whether a name (any case, with or without the trailing dot) ends in `zone`."""
    return name.lower().rstrip(".").endswith("." + zone.lower())
