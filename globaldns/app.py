"""Wires sources, the table and the servers together for `serve` and `table`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from globaldns.config import ConfigError
from globaldns.dns.responder import QueryCounters, Responder
from globaldns.dns.zone import ZoneConfig
from globaldns.install import watchdog
from globaldns.server import admin, dns, heap
from globaldns.server.metrics import GlobalDnsCollector, registry_of
from globaldns.sources import kubernetes
from globaldns.sources import mesh as mesh_source
from globaldns.sources.status import Registry, State
from globaldns.table.render import as_json
from globaldns.table.table import Table

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


class MeshState:
    """The table, its sources and what they report; shared by `serve` and `table`."""

    def __init__(self, settings: dict[str, Any], mesh: mesh_source.Mesh | None) -> None:
        self.settings = settings
        self.table = Table(
            ZoneConfig(
                zone=settings["zone"], ttl=settings["ttl"], max_answers=settings["max_answers"]
            ),
            local_cluster=settings["local_cluster"],
        )
        self.clusters = Registry()
        self.reload_errors = 0
        self._compiled_once = False
        self.mesh = mesh
        if mesh is not None:
            mesh_source.apply(mesh, None, self.table)
            self._mark_mesh_clusters(mesh)

    def ready(self) -> bool:
        """Every known cluster finished its first sync, and what they said is compiled.

        The second part holds back the first 200 only: at 200 clusters a first sync leaves
        seconds of compiling, and a pod that took traffic then would answer NXDOMAIN.
        """
        if not self.clusters.ready():
            return False
        self._compiled_once = self._compiled_once or self.table.pending == 0
        return self._compiled_once

    def kubernetes_source(self) -> kubernetes.KubernetesSource | None:
        """The Kubernetes source feeding this table, when one is configured."""
        if not kubernetes.configured(self.settings):
            return None
        return kubernetes.KubernetesSource(
            kubernetes.KubeSettings.from_settings(self.settings), self.table, self.clusters
        )

    def _mark_mesh_clusters(self, mesh: mesh_source.Mesh) -> None:
        for cluster in list(self.clusters.clusters.values()):
            if cluster.source == mesh_source.SOURCE:
                self.clusters.forget(cluster.name)
        for cluster in mesh.clusters:
            self.clusters.set(cluster.name, mesh_source.SOURCE, State.SYNCED)

    def on_mesh_change(self, mesh: mesh_source.Mesh) -> None:
        old = self.mesh
        changed = [
            key
            for key, new, before in (
                ("zone", mesh.zone, old.zone if old else None),
                ("ttl", mesh.ttl, old.ttl if old else None),
                ("localCluster", mesh.local_cluster, old.local_cluster if old else None),
            )
            if new != before
        ]
        if changed:
            self.on_mesh_error(
                mesh_source.MeshError(
                    f"{self.settings['mesh']}: {', '.join(changed)} changed; these apply at "
                    "start only: restart globaldns to use them"
                )
            )
            return
        mesh_source.apply(mesh, self.mesh, self.table)
        self.mesh = mesh
        self._mark_mesh_clusters(mesh)
        log.info("mesh file reloaded: %d names", self.table.size)

    def on_mesh_error(self, err: mesh_source.MeshError) -> None:
        self.reload_errors += 1
        log.error("%s (still serving the last good table)", err)

    def stats(self) -> dict[str, int]:
        return {
            "names": self.table.size,
            "commits": self.table.commits,
            "reload_errors": self.reload_errors,
            "conflicts": self.table.conflicts,
        }

    def table_json(self) -> list[dict[str, object]]:
        return as_json(self.table.views(), self.table.config.zone)


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


async def _serve(settings: dict[str, Any], mesh: mesh_source.Mesh | None, fast: bool) -> int:
    state = MeshState(settings, mesh)
    queries = QueryCounters()
    transport = dns.TransportCounters()
    responder = Responder(state.table.zone, queries)
    wiring = watchdog.from_settings(settings)
    registry = registry_of(
        GlobalDnsCollector(
            queries,
            transport,
            state.stats,
            state.clusters,
            state.ready,
            extra=wiring.families if wiring is not None else None,
        )
    )

    tasks: list[asyncio.Task[None]] = [asyncio.create_task(heap.keep_frozen())]
    if settings["mesh"] is not None:
        tasks.append(
            asyncio.create_task(
                mesh_source.watch(settings["mesh"], state.on_mesh_change, state.on_mesh_error)
            )
        )
    if wiring is not None:
        tasks.append(asyncio.create_task(wiring.run()))
    try:
        kube = state.kubernetes_source()
    except kubernetes.KubeconfigError as err:
        log.error("%s", err)
        return 2
    if kube is not None:
        kube.start(asyncio.get_running_loop())
    host, port = settings["listen"]
    udp, tcp = await dns.start(
        responder,
        host,
        port,
        transport,
        idle=settings["tcp_idle_timeout"],
        cap=settings["tcp_max_connections"],
    )
    admin_host, admin_port = settings["admin"]
    runner = await admin.start(
        admin.build_app(registry, state.clusters, state.table_json, state.ready),
        admin_host,
        admin_port,
    )
    bound = udp.address()
    log.info(
        "serving %s. on %s:%d (udp+tcp, %s loop), admin on %s:%d, %d names",
        settings["zone"],
        bound[0],
        bound[1],
        "uvloop" if fast else "asyncio",
        admin_host,
        admin_port,
        state.table.size,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    if kube is not None:
        kube.stop()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    udp.close()
    tcp.close()
    await runner.cleanup()
    return 0
