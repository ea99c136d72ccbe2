"""The mesh file as a source: re-read when it changes, diffed against the last version read,
and applied through the table's commit scheduler.

The file's schema and validation are `mesh_file.py`'s (re-exported here: this module is the
mesh source's face). Reading, validating and diffing run in a worker thread; only applying the
differences runs on the serving loop, in the scheduler's short turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from globaldns import runtime
from globaldns.config import free_gradually
from globaldns.sources.mesh_file import Mesh, MeshError, load, loads, parse
from globaldns.table.model import Cluster, Entry, Export, Instance, TableSink
from globaldns.table.scheduler import CommitScheduler

__all__ = [
    "SOURCE",
    "Changes",
    "Mesh",
    "MeshError",
    "apply",
    "apply_gradually",
    "diff",
    "load",
    "load_changes",
    "loads",
    "parse",
    "watch",
]

SOURCE = "mesh"


@dataclass(frozen=True, slots=True)
class Changes:
    """What a new version of the mesh file changes, worked out off the serving loop.

    `instances` holds, per service host, every instance to put (None: remove): one host's puts
    go into the table together, so a service moving between clusters never blanks.
    """

    mesh: Mesh
    clusters: tuple[Cluster, ...]  # new or changed
    dropped_clusters: tuple[str, ...]
    instances: dict[str, list[tuple[str, Instance | None]]]
    entries: tuple[tuple[str, Entry | None], ...]
    exports: tuple[tuple[tuple[str, str], Export | None], ...]  # (cluster, service name) ->
    added: tuple[str, ...]  # names (relative to the zone) of services and ServiceEntry hosts
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    start_only: tuple[str, ...]  # e.g. "ttl 5 -> 10": edits that apply at the next start

    def describe(self, shown: int = 5) -> str:
        """`added a, b; changed c; removed d` with at most `shown` names each."""
        parts = []
        for what, names in (
            ("added", self.added),
            ("removed", self.removed),
            ("changed", self.changed),
        ):
            if names:
                more = f" and {len(names) - shown} more" if len(names) > shown else ""
                parts.append(f"{what} {len(names)}: {', '.join(names[:shown])}{more}")
        for what, clusters in (
            ("clusters put", tuple(c.name for c in self.clusters)),
            ("clusters dropped", self.dropped_clusters),
        ):
            if clusters:
                parts.append(f"{what}: {', '.join(clusters)}")
        return "; ".join(parts) or "no change to the table"


def diff(mesh: Mesh, previous: Mesh | None, started: Mesh | None = None) -> Changes:
    """The changes from `previous` to `mesh`; start-only keys are compared with `started`."""
    old_clusters = {c.name: c for c in previous.clusters} if previous else {}
    new_names = {c.name for c in mesh.clusters}
    old_instances = previous.instances if previous else {}
    by_host: dict[str, list[tuple[str, Instance | None]]] = {}
    for (cluster, host), instance in mesh.instances.items():
        if old_instances.get((cluster, host)) != instance:
            by_host.setdefault(host, []).append((cluster, instance))
    for cluster, host in old_instances.keys() - mesh.instances.keys():
        by_host.setdefault(host, []).append((cluster, None))
    old_entries = previous.entries if previous else {}
    entries: list[tuple[str, Entry | None]] = [
        (key, e) for key, e in mesh.entries.items() if old_entries.get(key) != e
    ]
    entries += [(key, None) for key in old_entries.keys() - mesh.entries.keys()]
    old_exports = previous.exports if previous else {}
    exports: list[tuple[tuple[str, str], Export | None]] = [
        (key, e) for key, e in mesh.exports.items() if old_exports.get(key) != e
    ]
    exports += [(key, None) for key in old_exports.keys() - mesh.exports.keys()]

    old_hosts = _hosts(previous) if previous else set()
    new_hosts = _hosts(mesh)
    touched = set(by_host) | {h for key, _ in entries for h in key.split(",")}
    start = started or previous
    return Changes(
        mesh=mesh,
        clusters=tuple(c for c in mesh.clusters if old_clusters.get(c.name) != c),
        dropped_clusters=tuple(sorted(old_clusters.keys() - new_names)),
        instances=by_host,
        entries=tuple(entries),
        exports=tuple(exports),
        added=tuple(sorted(new_hosts - old_hosts)),
        removed=tuple(sorted(old_hosts - new_hosts)),
        changed=tuple(sorted(touched & new_hosts & old_hosts)),
        start_only=_start_only(mesh, start) if start is not None else (),
    )


def _hosts(mesh: Mesh) -> set[str]:
    return {host for _, host in mesh.instances} | {
        h for e in mesh.entries.values() for h in e.hosts
    }


def _start_only(mesh: Mesh, started: Mesh) -> tuple[str, ...]:
    return tuple(
        f"{key} {before if before is not None else '(unset)'} -> "
        f"{now if now is not None else '(unset: the default)'}"
        for key, now, before in (
            ("zone", mesh.zone, started.zone),
            ("ttl", mesh.ttl, started.ttl),
            ("localCluster", mesh.local_cluster, started.local_cluster),
        )
        if now != before
    )


def _steps(changes: Changes, sink: TableSink) -> Iterator[None]:
    """Write the changes into the table, pausing between names, never inside one."""
    if changes.mesh.changed is not None:
        sink.note_time(changes.mesh.changed)
    for put in changes.clusters:
        sink.put_cluster(put)
    yield
    for host, puts in changes.instances.items():
        for cluster, instance in puts:
            sink.put_instance(cluster, host, instance)
        yield
    for key, entry in changes.entries:  # few, and a host may move from one entry to another
        sink.put_entry(SOURCE, key, entry)
    for (cluster, host), export in changes.exports:
        sink.put_export(cluster, host, export)
    yield
    for name in changes.dropped_clusters:
        sink.drop_cluster(name)


def apply(mesh: Mesh, previous: Mesh | None, sink: TableSink) -> None:
    """Write the difference between two versions of the mesh into the table, then commit."""
    for _ in _steps(diff(mesh, previous), sink):
        pass
    sink.commit()


async def apply_gradually(changes: Changes, sink: TableSink, scheduler: CommitScheduler) -> None:
    """Apply and compile in the scheduler's turns, answering DNS in between."""
    await scheduler.apply(_steps(changes, sink))


def load_changes(path: Path, previous: Mesh | None, started: Mesh | None) -> Changes:
    """Read, validate and diff: the costly part of a reload, run in a worker thread, with the
    garbage collector paused (the parse makes a million short-lived objects)."""
    with runtime.collector_paused():
        return diff(load(path), previous, started)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


async def watch(
    path: Path,
    started: Mesh | None,
    on_change: Callable[[Changes], Awaitable[None]],
    on_error: Callable[[MeshError], None],
    interval: float = 0.2,
    reread: asyncio.Event | None = None,
) -> None:
    """Poll the file (ConfigMap mounts swap symlinks, so inotify on the file would miss it).

    `reread` (set on SIGHUP) reads the file now, changed or not.
    """
    reread = reread or asyncio.Event()
    previous = started
    last = _signature(path)
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reread.wait(), interval)
        forced = reread.is_set()
        reread.clear()
        current = _signature(path)
        if current == last and not forced:
            continue
        last = current
        try:
            changes = await asyncio.to_thread(load_changes, path, previous, started)
        except MeshError as err:
            on_error(err)
            continue
        await on_change(changes)
        retired, previous = previous, changes.mesh
        # Dropped at once on the loop, these would free in one cascade: 26 and 16 ms at 20,000.
        garbage: list[object] = [changes.instances]
        if retired is not None and retired is not started:
            garbage.append(retired.instances)
        del changes, retired
        await asyncio.to_thread(free_gradually, garbage)
