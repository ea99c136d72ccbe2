"""Wires sources, the table and the servers together for `serve` and `table`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from globaldns import __version__, runtime
from globaldns.config import host_port_text
from globaldns.dns.responder import QueryCounters, Responder
from globaldns.dns.wire import Unfit
from globaldns.dns.zone import ZoneConfig
from globaldns.health import GatewayHealthCollector, Prober
from globaldns.install import watchdog
from globaldns.listeners import Listener, close, listen_admin, listen_dns, queries_waiting
from globaldns.server.counters import TransportCounters
from globaldns.server.metrics import GlobalDnsCollector, Scraper
from globaldns.settings import Settings
from globaldns.sources import kubernetes
from globaldns.sources import mesh as mesh_source
from globaldns.sources.status import Registry, State
from globaldns.table.pages import Page, TablePages, named_views
from globaldns.table.render import gateways_json
from globaldns.table.scheduler import CommitScheduler
from globaldns.table.skipped import skipped_json
from globaldns.table.table import NameView, Table

log = logging.getLogger("globaldns")


class MeshState:
    """The table, its sources and what they report; shared by `serve` and `table`."""

    def __init__(self, settings: Settings, mesh: mesh_source.Mesh | None) -> None:
        self.settings = settings
        self.server_id = settings.server.identity()
        answers, local = settings.answers, settings.sources.local_cluster
        config = ZoneConfig(
            zone=answers.zone,
            ttl=answers.ttl,
            max_answers=answers.max_answers,
            cluster_id=local or "",
            nameserver=answers.apex_name(),
            identity=None if settings.server.hide_identity else self.server_id,
            version=None if settings.server.hide_version else f"globaldns {__version__}",
            default_addresses=answers.default_addresses,
        )
        mcs = settings.clusterset  # SPEC §7: the same apex and identity, its own name and TTL
        clusterset = None if mcs.off else replace(config, zone=mcs.zone, ttl=mcs.ttl)
        self.table = Table(config, local_cluster=local, clusterset=clusterset)
        self.scheduler = CommitScheduler(self.table)  # every source's changes, in short turns
        self.clusters = Registry()
        self.reload_errors = 0
        self.last_reload_success = int(time.time())  # start counts: what runs is what was read
        self.kube: kubernetes.KubernetesSource | kubernetes.WatchProcess | None = None
        self.draining = False
        self._compiled_once = False
        self.pages = TablePages(self.table, self.head)
        self.started = time.monotonic()
        self.loaded = mesh is not None  # the mesh file alone lets the table answer
        # The clusters whose first sync lets the table answer (None: any cluster's).
        self.anchors: frozenset[str] | None = frozenset({local}) if local else None
        self._serving = False  # latched: ready once, ready while serving
        if mesh is not None:
            mesh_source.apply(mesh, None, self.table)
            self._mark_mesh_clusters(mesh)

    def unready(self) -> str:
        """Why `/ready` fails, or "" when ready.

        Ready means "can serve": the mesh file or the local cluster has loaded once and what it
        said is compiled (at 200 clusters a first sync leaves seconds of compiling, and a pod
        that took traffic then would answer NXDOMAIN). From then on it stays ready while the
        process serves, as CoreDNS's `ready` latches: a remote cluster's sync never takes a
        replica out of its Service (that would take every replica out at once). Lameduck
        turns it off.
        """
        if self.draining:
            return "shutting down (lameduck)"
        if self._serving:
            return ""
        why = self._starting()
        if not why:
            self._serving = True
            log.info("ready: the table can answer; /ready stays 200 while serving")
        return why

    def _starting(self) -> str:
        """Why a server that never was ready is not ready yet, or ""."""
        if not self.loaded and not self.clusters.any_synced(self.anchors):
            anchors = ", ".join(sorted(self.anchors or ())) or "a cluster"
            return f"waiting for the first sync of: {anchors}"
        bound = self.settings.kube.ready_wait_remote
        if time.monotonic() - self.started < bound:
            syncing = ", ".join(self.clusters.syncing())
            if not syncing and self.kube is not None and not self.kube.remotes_known():
                syncing = "the remote Secrets"
            if syncing:
                flag = "--ready-wait-remote"
                return f"waiting up to {bound:g}s ({flag}) for the first sync of: {syncing}"
        if self.table.pending:
            return "waiting for answers being compiled"
        return ""

    def ready(self) -> bool:
        return not self.unready()

    def kubernetes_source(self) -> kubernetes.KubernetesSource | None:
        """The Kubernetes source feeding this table on a thread, when one is configured."""
        if not self.settings.kube.configured:
            return None
        kube = kubernetes.KubernetesSource(
            self.settings.kube, self.table, self.clusters, self.scheduler
        )
        self.kube, self.anchors = kube, kube.anchors()
        return kube

    def watch_source(self) -> kubernetes.KubernetesSource | kubernetes.WatchProcess | None:
        """For `serve`: the Kubernetes source, in a watch process of its own unless
        `--watch-process off`."""
        if self.settings.kube.watch_process == kubernetes.WatchProcessMode.OFF:
            return self.kubernetes_source()
        if not self.settings.kube.configured:
            return None
        settings = self.settings
        watch = kubernetes.WatchProcess(
            settings.kube, settings.logs, self.table, self.clusters, self.scheduler
        )
        watch.fork()  # before any socket or thread: see WatchProcess.fork
        self.kube, self.anchors = watch, watch.anchors()
        return watch

    def _mark_mesh_clusters(self, mesh: mesh_source.Mesh) -> None:
        for status in list(self.clusters.clusters.values()):
            if status.source == mesh_source.SOURCE:
                self.clusters.forget(status.name)
        for cluster in mesh.clusters:
            self.clusters.set(cluster.name, mesh_source.SOURCE, State.SYNCED)

    async def on_mesh_change(self, changes: mesh_source.Changes) -> None:
        """Apply a re-read mesh file in short turns; start-only edits are reported, not lost."""
        file = str(self.settings.sources.mesh)
        if changes.start_only:
            log.warning(
                "%s: %s: these apply at start only; restart globaldns to use them (the other "
                "edits are applied)",
                file,
                ", ".join(changes.start_only),
                extra={"file": file, "startOnly": list(changes.start_only)},
            )
        await mesh_source.apply_gradually(changes, self.table, self.scheduler)
        self._mark_mesh_clusters(changes.mesh)
        self.last_reload_success = int(time.time())
        log.info(
            "mesh file %s reloaded: %s; %d names",
            file,
            changes.describe(),
            self.table.size,
            extra={
                "file": file,
                "added": list(changes.added),
                "removed": list(changes.removed),
                "changed": list(changes.changed),
            },
        )

    def on_mesh_error(self, err: mesh_source.MeshError) -> None:
        self.reload_errors += 1
        log.error(
            "%s (still serving the last good table)",
            err,
            extra={"file": str(self.settings.sources.mesh)},
        )

    def stats(self) -> dict[str, int]:
        return {
            "names": self.table.size,
            "commits": self.table.commits,
            "reload_errors": self.reload_errors,
            "conflicts": self.table.conflicts,
            "export_conflicts": self.table.clusterset.conflicts if self.table.clusterset else 0,
            "last_reload_success": self.last_reload_success,
            "internal_errors": self.table.internal_errors
            + self.scheduler.errors
            + (self.kube.internal_errors() if self.kube is not None else 0),
            **self._watch_process_stats(),
            **{f"skipped_{reason.label}": self.table.skipped[reason] for reason in Unfit},
        }

    def _watch_process_stats(self) -> dict[str, int]:
        watch = self.kube if isinstance(self.kube, kubernetes.WatchProcess) else None
        return {
            "watch_process_restarts": watch.restarts if watch is not None else 0,
            "watch_process_refused_frames": watch.refused_frames if watch is not None else 0,
        }

    def views(self, names: Sequence[str] = ()) -> list[NameView]:
        """Every name in the table, or just `names`, explained (raising `UnknownNames` for any
        it lacks). Only asked-for names are explained: at 200 clusters explaining every name
        costs seconds."""
        if not names:
            clusterset = self.table.clusterset  # its names after global.'s, in their zone
            return [*self.table.views(), *(clusterset.views() if clusterset else ())]
        return named_views(self.table, names, [self.table.lookup(name) for name in names])

    def head(self) -> dict[str, object]:
        """The server (which replica, the serial), clusters, gateways and names not served
        (`skipped`) that `/table` and `table --format json` show above the names."""
        return {
            "server": {
                "id": self.server_id,
                "version": __version__,
                "serial": self.table.zone.serial,
            },
            "clusters": self.clusters.as_json(),
            "gateways": gateways_json(self.table),
            "skipped": skipped_json(self.table),
        }

    def document(self, views: Sequence[NameView]) -> dict[str, object]:
        """The `/table` document of these views, whole: `table --format json` prints it."""
        return Page(self.head(), views, self.table.config.zone).document()


def serve(settings: Settings, mesh: mesh_source.Mesh | None) -> int:
    fast = runtime.configure()
    return asyncio.run(_serve(settings, mesh, fast))


def _sources(settings: Settings) -> list[str]:
    mesh = settings.sources.mesh
    sources = [f"mesh {mesh}"] if mesh is not None else []
    if settings.kube.configured:
        kubeconfig = settings.kube.kubeconfig
        sources.append(f"kubernetes {kubeconfig}" if kubeconfig else "kubernetes in-cluster")
    return sources


def _watches(
    settings: Settings,
    mesh: mesh_source.Mesh | None,
    state: MeshState,
    wiring: watchdog.Watchdog | None,
    reread: asyncio.Event,
) -> list[asyncio.Task[None]]:
    """The tasks that watch the mesh file (re-read on change or `reread`) and the wiring."""
    tasks: list[asyncio.Task[None]] = []
    if settings.sources.mesh is not None:
        tasks.append(
            asyncio.create_task(
                mesh_source.watch(
                    settings.sources.mesh,
                    mesh,
                    state.on_mesh_change,
                    state.on_mesh_error,
                    reread=reread,
                )
            )
        )
    if wiring is not None:
        tasks.append(asyncio.create_task(wiring.run()))
    return tasks


async def _serve(settings: Settings, mesh: mesh_source.Mesh | None, fast: bool) -> int:
    state = MeshState(settings, mesh)
    queries = QueryCounters()
    transport = TransportCounters()
    clusterset = state.table.clusterset
    others = () if clusterset is None else (clusterset.zone,)
    responder = Responder(state.table.zone, queries, others)
    wiring = watchdog.from_settings(settings.wiring)
    scraper = Scraper(
        GlobalDnsCollector(
            queries,
            transport,
            state.stats,
            state.clusters,
            state.ready,
            extra=wiring.families if wiring is not None else None,
            zones=(
                (settings.answers.zone, queries),
                *((other.zone.config.zone, other.counters) for other in responder.others),
            ),
        )
    )
    kube = state.watch_source()

    prober = Prober(state.table, settings.probes, state.scheduler)
    scraper.loop_owned.append(GatewayHealthCollector(prober))
    servers = await listen_dns(responder, settings.server, transport)
    # Compiling pauses for a waiting query.
    state.scheduler.yield_to(queries_waiting(udp.sock for udp, _ in servers))
    admin_server = await listen_admin(scraper, state.pages, state.unready, settings.server, servers)

    loop = asyncio.get_running_loop()
    reread = asyncio.Event()
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(runtime.keep_frozen()),
        asyncio.create_task(prober.run()),
    ]
    tasks.extend(_watches(settings, mesh, state, wiring, reread))
    if kube is not None:
        kube.start(loop)
    _log_start(settings, state, servers, fast)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_stop, state, stop)
    loop.add_signal_handler(signal.SIGHUP, _on_hangup, settings.sources.mesh, reread)
    await stop.wait()
    await _lameduck(stop, settings.server.lameduck)
    log.info("shutting down")
    if kube is not None:
        kube.stop()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    close(servers)
    await admin_server.close()
    return 0


def _log_start(
    settings: Settings,
    state: MeshState,
    servers: list[Listener],
    fast: bool,
) -> None:
    """The start line: what serves where, from which sources, with which loops."""
    listen = [host_port_text(*udp.address()) for udp, _ in servers]
    admin_at = host_port_text(*settings.server.admin)
    sources = _sources(settings)
    udp_loop = "compiled" if all(udp.compiled for udp, _ in servers) else "pure-Python"
    zone, local = settings.answers.zone, settings.sources.local_cluster
    clusterset = state.table.clusterset
    zones = [f"{zone}.", *(() if clusterset is None else (f"{clusterset.config.zone}.",))]
    log.info(
        "globaldns %s serving %s on %s (udp+tcp), admin on %s; sources: %s; local cluster: "
        "%s; %d names; %s loop, %s UDP loop",
        __version__,
        " and ".join(zones),
        ", ".join(listen),
        admin_at,
        ", ".join(sources),
        local or "none",
        state.table.size,
        "uvloop" if fast else "asyncio",
        udp_loop,
        extra={
            "udpLoop": udp_loop,
            "version": __version__,
            "zone": zone,
            "zones": zones,
            "listen": listen,
            "admin": admin_at,
            "sources": sources,
            "localCluster": local,
        },
    )


def _on_stop(state: MeshState, stop: asyncio.Event) -> None:
    state.draining = True  # /ready fails from this turn on
    stop.set()


def _on_hangup(mesh: Path | None, reread: asyncio.Event) -> None:
    if mesh is None:
        log.info("SIGHUP: no mesh file to re-read")
        return
    log.info("SIGHUP: re-reading %s", mesh, extra={"file": str(mesh)})
    reread.set()


async def _lameduck(stop: asyncio.Event, seconds: float) -> None:
    """DNS answers `seconds` more while `/ready` fails (a second signal ends it early)."""
    if seconds <= 0:
        return
    log.info("lameduck: /ready fails; answering DNS for %g s more", seconds)
    stop.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
