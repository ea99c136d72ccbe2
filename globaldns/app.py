"""Wires sources, the table and the servers together for `serve` and `table`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from globaldns import __version__
from globaldns.config import ConfigError, host_port_text, identity, nameserver
from globaldns.dns.responder import QueryCounters, Responder
from globaldns.dns.wire import Unfit
from globaldns.dns.zone import ZoneConfig
from globaldns.health import GatewayHealthCollector, Prober, ProbeSettings
from globaldns.install import watchdog
from globaldns.server import admin, dns, heap
from globaldns.server.counters import TransportCounters
from globaldns.server.metrics import GlobalDnsCollector, Scraper
from globaldns.server.rrl import RateLimiter, RrlSettings
from globaldns.server.tcp import TcpClients, TcpLimits
from globaldns.sources import kubernetes
from globaldns.sources import mesh as mesh_source
from globaldns.sources.status import Registry, State
from globaldns.table.pages import Page, TablePages, named_views
from globaldns.table.render import gateways_json
from globaldns.table.table import NameView, Table

log = logging.getLogger("globaldns")


def mesh_defaults(mesh_path: Path | None) -> tuple[mesh_source.Mesh | None, dict[str, Any]]:
    """Load the mesh file once at start: its zone/ttl/localCluster are defaults for settings."""
    if mesh_path is None:
        return None, {}
    try:
        mesh = mesh_source.load(mesh_path)
    except mesh_source.MeshError as err:
        raise ConfigError(str(err)) from err
    return mesh, {"zone": mesh.zone, "ttl": mesh.ttl, "localCluster": mesh.local_cluster}


def check_sources(settings: dict[str, Any], mesh: mesh_source.Mesh | None) -> None:
    """A source is given, and a local cluster of a mesh-only server is one of its clusters."""
    if mesh is None and not kubernetes.configured(settings):
        raise ConfigError("no source: give --mesh FILE (see examples/mesh.yaml) or --kubeconfig")
    local = settings["local_cluster"]
    if mesh is None or local is None or kubernetes.configured(settings):
        return
    names = [cluster.name for cluster in mesh.clusters]
    if local not in names:
        raise ConfigError(
            f"local cluster {local!r} (--local-cluster, GLOBALDNS_LOCAL_CLUSTER or the config "
            f"file's localCluster) is not a cluster of {settings['mesh']}; it has: "
            f"{', '.join(names) or 'no clusters'}"
        )


class MeshState:
    """The table, its sources and what they report; shared by `serve` and `table`."""

    def __init__(self, settings: dict[str, Any], mesh: mesh_source.Mesh | None) -> None:
        self.settings = settings
        self.server_id = identity(settings)
        self.table = Table(
            ZoneConfig(
                zone=settings["zone"],
                ttl=settings["ttl"],
                max_answers=settings["max_answers"],
                cluster_id=settings["local_cluster"] or "",
                nameserver=nameserver(settings),
                identity=None if settings.get("hide_identity") else self.server_id,
                version=None if settings.get("hide_version") else f"globaldns {__version__}",
                default_addresses=settings.get("default_address", ()),
            ),
            local_cluster=settings["local_cluster"],
        )
        self.clusters = Registry()
        self.reload_errors = 0
        self.last_reload_success = int(time.time())  # start counts: what runs is what was read
        self.kube: kubernetes.KubernetesSource | None = None
        self.draining = False
        self._compiled_once = False
        self.pages = TablePages(self.table, self.head)
        self.started = time.monotonic()
        self.loaded = mesh is not None  # the mesh file alone lets the table answer
        # The clusters whose first sync lets the table answer (None: any cluster's).
        local = settings["local_cluster"]
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
        bound = self.settings.get("ready_wait_remote", 0.0)
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
        """The Kubernetes source feeding this table, when one is configured."""
        if not kubernetes.configured(self.settings):
            return None
        self.kube = kubernetes.KubernetesSource(
            kubernetes.KubeSettings.from_settings(self.settings), self.table, self.clusters
        )
        self.anchors = self.kube.anchors()
        return self.kube

    def _mark_mesh_clusters(self, mesh: mesh_source.Mesh) -> None:
        for status in list(self.clusters.clusters.values()):
            if status.source == mesh_source.SOURCE:
                self.clusters.forget(status.name)
        for cluster in mesh.clusters:
            self.clusters.set(cluster.name, mesh_source.SOURCE, State.SYNCED)

    async def on_mesh_change(self, changes: mesh_source.Changes) -> None:
        """Apply a re-read mesh file in short turns; start-only edits are reported, not lost."""
        file = str(self.settings["mesh"])
        if changes.start_only:
            log.warning(
                "%s: %s: these apply at start only; restart globaldns to use them (the other "
                "edits are applied)",
                file,
                ", ".join(changes.start_only),
                extra={"file": file, "startOnly": list(changes.start_only)},
            )
        await mesh_source.apply_gradually(changes, self.table)
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
            extra={"file": str(self.settings["mesh"])},
        )

    def stats(self) -> dict[str, int]:
        return {
            "names": self.table.size,
            "commits": self.table.commits,
            "reload_errors": self.reload_errors,
            "conflicts": self.table.conflicts,
            "last_reload_success": self.last_reload_success,
            "internal_errors": self.table.internal_errors
            + (self.kube.internal_errors() if self.kube is not None else 0),
            **{f"skipped_{reason.label}": self.table.skipped[reason] for reason in Unfit},
        }

    def views(self, names: Sequence[str] = ()) -> list[NameView]:
        """Every name in the table, or just `names`, explained (raising `UnknownNames` for any
        it lacks). Only asked-for names are explained: at 200 clusters explaining every name
        costs seconds."""
        if not names:
            return list(self.table.views())
        return named_views(self.table, names, [self.table.lookup(name) for name in names])

    def head(self) -> dict[str, object]:
        """The server (which replica, the serial), clusters and gateways `/table` and `table
        --format json` show above the names."""
        return {
            "server": {
                "id": self.server_id,
                "version": __version__,
                "serial": self.table.zone.serial,
            },
            "clusters": self.clusters.as_json(),
            "gateways": gateways_json(self.table),
        }

    def document(self, views: Sequence[NameView]) -> dict[str, object]:
        """The `/table` document of these views, whole: `table --format json` prints it."""
        return Page(self.head(), views, self.table.config.zone).document()


def _install_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def serve(settings: dict[str, Any], mesh: mesh_source.Mesh | None) -> int:
    fast = _install_uvloop()
    return asyncio.run(_serve(settings, mesh, fast))


def _sources(settings: dict[str, Any]) -> list[str]:
    sources = [f"mesh {settings['mesh']}"] if settings["mesh"] is not None else []
    if kubernetes.configured(settings):
        kubeconfig = settings["kubeconfig"]
        sources.append(f"kubernetes {kubeconfig}" if kubeconfig else "kubernetes in-cluster")
    return sources


async def _listen_dns(
    responder: Responder, settings: dict[str, Any], transport: TransportCounters
) -> list[tuple[dns.UdpServer, asyncio.Server]]:
    """A UDP and a TCP socket on each `--listen` address; a busy port is a start-up error."""
    servers: list[tuple[dns.UdpServer, asyncio.Server]] = []
    limits = TcpLimits(
        idle=settings["tcp_idle_timeout"],
        connections=settings["tcp_max_connections"],
        per_address=settings["tcp_max_connections_per_address"],
    )
    clients = TcpClients(transport, limits)  # the caps count every listener's connections
    rrl = RrlSettings(
        rate=settings["rrl_rate"],
        slip=settings["rrl_slip"],
        ipv4_prefix=settings["rrl_ipv4_prefix"],
        ipv6_prefix=settings["rrl_ipv6_prefix"],
    )
    limiter = RateLimiter(rrl, transport.rrl) if rrl.on else None  # shared by every listener
    for host, port in settings["listen"]:
        try:
            servers.append(await dns.start(responder, host, port, transport, clients, limiter))
        except OSError as err:
            _close(servers)
            raise _unbindable("--listen", "DNS", host, port, err) from None
    return servers


def _unbindable(flag: str, what: str, host: str, port: int, err: OSError) -> ConfigError:
    """The one-line start-up error for an address a server cannot listen on."""
    why = (err.strerror or str(err)).rsplit(": ", 1)[-1].lower()
    return ConfigError(
        f"{flag} {host_port_text(host, port)}: cannot serve {what} there: {why}; "
        f"stop what uses it or give another {flag} HOST:PORT"
    )


def _close(servers: list[tuple[dns.UdpServer, asyncio.Server]]) -> None:
    for udp, tcp in servers:
        udp.close()
        tcp.close()


async def _serve(settings: dict[str, Any], mesh: mesh_source.Mesh | None, fast: bool) -> int:
    state = MeshState(settings, mesh)
    queries = QueryCounters()
    transport = TransportCounters()
    responder = Responder(state.table.zone, queries)
    wiring = watchdog.from_settings(settings)
    scraper = Scraper(
        GlobalDnsCollector(
            queries,
            transport,
            state.stats,
            state.clusters,
            state.ready,
            extra=wiring.families if wiring is not None else None,
        )
    )
    kube = state.kubernetes_source()

    prober = Prober(state.table, ProbeSettings.from_settings(settings))
    scraper.loop_owned.append(GatewayHealthCollector(prober))
    servers = await _listen_dns(responder, settings, transport)
    admin_host, admin_port = settings["admin"]
    try:
        admin_server = await admin.start(
            admin.build_app(scraper, state.pages, state.unready, settings["table_from"]),
            admin_host,
            admin_port,
        )
    except OSError as err:
        _close(servers)
        raise _unbindable("--admin", "HTTP", admin_host, admin_port, err) from None

    loop = asyncio.get_running_loop()
    reread = asyncio.Event()
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(heap.keep_frozen()),
        asyncio.create_task(prober.run()),
    ]
    # Worker threads (the mesh reload's parser, /metrics and /table's writers) hand the GIL,
    # so the serving loop, back quickly.
    sys.setswitchinterval(0.0005)
    if settings["mesh"] is not None:
        tasks.append(
            asyncio.create_task(
                mesh_source.watch(
                    settings["mesh"],
                    mesh,
                    state.on_mesh_change,
                    state.on_mesh_error,
                    reread=reread,
                )
            )
        )
    if wiring is not None:
        tasks.append(asyncio.create_task(wiring.run()))
    if kube is not None:
        kube.start(loop)

    listen = [host_port_text(*udp.address()) for udp, _ in servers]
    admin_at = host_port_text(admin_host, admin_port)
    sources = _sources(settings)
    udp_loop = "compiled" if all(udp.compiled for udp, _ in servers) else "pure-Python"
    log.info(
        "globaldns %s serving %s. on %s (udp+tcp), admin on %s; sources: %s; local cluster: "
        "%s; %d names; %s loop, %s UDP loop",
        __version__,
        settings["zone"],
        ", ".join(listen),
        admin_at,
        ", ".join(sources),
        settings["local_cluster"] or "none",
        state.table.size,
        "uvloop" if fast else "asyncio",
        udp_loop,
        extra={
            "udpLoop": udp_loop,
            "version": __version__,
            "zone": settings["zone"],
            "listen": listen,
            "admin": admin_at,
            "sources": sources,
            "localCluster": settings["local_cluster"],
        },
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_stop, state, stop)
    loop.add_signal_handler(signal.SIGHUP, _on_hangup, settings, reread)
    await stop.wait()
    await _lameduck(stop, settings["lameduck"])
    log.info("shutting down")
    if kube is not None:
        kube.stop()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    _close(servers)
    await admin_server.close()
    return 0


def _on_stop(state: MeshState, stop: asyncio.Event) -> None:
    state.draining = True  # /ready fails from this turn on
    stop.set()


def _on_hangup(settings: dict[str, Any], reread: asyncio.Event) -> None:
    if settings["mesh"] is None:
        log.info("SIGHUP: no mesh file to re-read")
        return
    log.info("SIGHUP: re-reading %s", settings["mesh"], extra={"file": str(settings["mesh"])})
    reread.set()


async def _lameduck(stop: asyncio.Event, seconds: float) -> None:
    """DNS answers `seconds` more while `/ready` fails (a second signal ends it early)."""
    if seconds <= 0:
        return
    log.info("lameduck: /ready fails; answering DNS for %g s more", seconds)
    stop.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
