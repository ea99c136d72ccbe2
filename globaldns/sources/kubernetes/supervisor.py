"""The serving process's side of the watch process: start it, apply what it says, replace it.

The watch process (worker.py) does every cluster's watching, decoding and stripping; this
process holds only the table. Its frames are decoded here (typed, bounded: frames.py) and told
to the same `Outbox` the in-process source tells, so the table, `/ready`, `/table` and the
metrics read alike in both modes. A watch process that exits, or sends nothing for
`--watch-process-timeout` (it beats every second), is killed and started again after an
exponential backoff, and counted. Meanwhile the table keeps every cluster's last data; the new
process is started with it (`Held`) and resumes each cluster as stale, so that data serves under
the stale rules until that cluster's first sync replaces it in one change.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import pickle
import sys
import time
from collections.abc import Iterator

from globaldns.config.common import LogSettings
from globaldns.sources.kubernetes import children
from globaldns.sources.kubernetes.clients import guard_logs
from globaldns.sources.kubernetes.frames import (
    Begin,
    Change,
    DropCluster,
    FrameError,
    FrameTooLarge,
    Heartbeat,
    Held,
    PutCluster,
    PutEntry,
    PutExport,
    PutInstance,
    PutNamespaces,
    Refuse,
    Report,
    SetNext,
    SetState,
    Start,
    Together,
    Unrefuse,
    decode_reports,
    frames,
    read_frame,
)
from globaldns.sources.kubernetes.handoff import SOURCE, Outbox
from globaldns.sources.kubernetes.options import KubeSettings
from globaldns.sources.kubernetes.source import anchors, static_clusters
from globaldns.sources.status import DataAge, Registry, State
from globaldns.table.model import Entry, Export, Instance, Port
from globaldns.table.scheduler import CommitScheduler
from globaldns.table.table import Table

log = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0  # seconds before a restart, doubling while it fails
HEALTHY_AFTER = 60.0  # a watch process that lived this long failed afresh: backoff resets
STARTING = 30.0  # seconds a new watch process may take to import and say its first word
HELD_PART = 500  # instances (or entries) per Held message: a frame of some 50 KiB


class WatchProcess:
    """`start(loop)` and `stop()` from the serving loop, as `KubernetesSource`."""

    def __init__(
        self,
        settings: KubeSettings,
        logs: LogSettings,
        table: Table,
        registry: Registry,
        scheduler: CommitScheduler,
    ) -> None:
        self.settings = settings
        self.logs = logs
        self.table = table
        self.registry = registry
        self.scheduler = scheduler
        self.static = frozenset(static_clusters(settings))  # a bad kubeconfig stops `serve`
        self.outbox: Outbox | None = None
        self.pid: int | None = None  # the running watch process's
        self.restarts = 0  # watch processes replaced (exited, hung, or out of step)
        self.refused_frames = 0  # frames that did not decode: refused whole, counted
        self._bugs = 0  # bugs the watch processes counted, those before the running one's
        self._beat: Heartbeat | None = None
        self._beat_at = 0.0
        self._remotes_known = False
        self._task: asyncio.Task[None] | None = None
        self._first: children.Pipes | None = None  # forked before the server served
        self._child: children.Child | None = None

    def anchors(self) -> frozenset[str]:
        return anchors(self.settings, self.static)

    def remotes_known(self) -> bool:
        return self._remotes_known or self.settings.local_cluster not in self.static

    def internal_errors(self) -> int:
        return self._bugs + (self._beat.bugs if self._beat is not None else 0)

    def fork(self) -> None:
        """Fork the first watch process now: call before the server opens a socket or starts
        a thread (it then starts watching at once, its modules imported already)."""
        self._first = children.fork(Start(self.settings, self.logs))

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        guard_logs()  # this process makes clients too (the wiring watchdog's)
        self.outbox = Outbox(self.table, self.registry, loop, self.scheduler)
        self._task = loop.create_task(self._supervise(), name="watch process")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._child is not None:
            self._child.kill()

    # -- the watch process's life --------------------------------------------------------------
    async def _supervise(self) -> None:
        failures = 0
        while True:
            began = time.monotonic()
            why = await self._run_once()
            self.restarts += 1
            if time.monotonic() - began > HEALTHY_AFTER:
                failures = 0
            delay = min(BACKOFF_FIRST * 2**failures, BACKOFF_MAX)
            failures += 1
            log.error("watch process %s: %s; starting another in %gs", self.pid, why, delay)
            await asyncio.sleep(delay)

    async def _run_once(self) -> str:
        """Run one watch process until it ends or is killed; why it had to go."""
        pipes, self._first = self._first or children.spawn(), None
        child = self._child = await children.attach(pipes)
        self.pid = child.pid
        log.info("watch process %s started", child.pid, extra={"pid": child.pid})
        try:
            if not child.forked:
                await self._begin(child.writer)
            self._beat_at = time.monotonic()
            why = await self._follow(child.reader)
        except (FrameTooLarge, ConnectionError) as err:
            why = str(err)
        finally:
            child.kill()
            status = await child.ended
            child.close()
        self._bugs += self._beat.bugs if self._beat is not None else 0
        self._beat = None
        return f"{why} (exit status {status})"

    async def _begin(self, stdin: asyncio.StreamWriter) -> None:
        """The settings, what the table holds of each cluster, then Begin. A new connection
        the previous process was making is gone with it."""
        assert self.outbox is not None
        for status in self.registry.clusters.values():
            if status.next_state is not None:
                self.outbox.set_next(status.name, None)
        start = pickle.dumps(Start(self.settings, self.logs))
        stdin.write(len(start).to_bytes(4, "big") + start)
        for held in self._held():
            for frame in frames([held]):
                stdin.write(frame)
            await stdin.drain()  # a turn for DNS between clusters
        for frame in frames([Begin()]):
            stdin.write(frame)
        await stdin.drain()

    async def _follow(self, stdout: asyncio.StreamReader) -> str:
        timeout = self.settings.watch_process_timeout
        wait = max(timeout, STARTING)  # until its first frame: it imports
        while True:
            try:
                payload = await asyncio.wait_for(read_frame(stdout), wait)
            except TimeoutError:
                return f"silent for {wait:g}s (--watch-process-timeout): hung, killed"
            wait = timeout
            if payload is None:
                return "exited"
            try:
                reports = decode_reports(payload)
            except FrameError as err:
                self.refused_frames += 1
                log.error("watch process %s: %s", self.pid, err)
                continue
            for report in reports:
                self.scheduler.guarded(self._apply, report)
            await asyncio.sleep(0)  # DNS between frames, however many are buffered

    def _held(self) -> Iterator[Held]:
        """What the table holds of each Kubernetes cluster, in parts of HELD_PART records."""
        index, serve_stale = self.table.index, self.settings.serve_stale
        entries: dict[str, dict[str, Entry]] = {}
        for (cluster, key), entry in index.entries.items():
            entries.setdefault(cluster, {})[key] = entry
        exports: dict[str, dict[str, Export]] = {}
        for (cluster, key), export in self.table.exports.by_key.items():
            exports.setdefault(cluster, {})[key] = export
        for status in list(self.registry.clusters.values()):
            if status.source != SOURCE:
                continue
            name, state = status.name, status.state
            stale_for = None
            if state == State.SYNCED:
                stale_for = serve_stale
            elif state in (State.STALE, State.GAVE_UP):
                stale_for = serve_stale - (time.time() - status.since)
            instances = {
                key: index.objects(host, name)[key]
                for key, host in index.where.get(name, {}).items()
            }
            yield from _parts(
                Held(name, state, status.synced_once, stale_for, index.clusters.get(name)),
                list(instances.items()),
                list(entries.get(name, {}).items()),
                list(exports.get(name, {}).items()),
            )

    # -- what it says --------------------------------------------------------------------------
    def _apply(self, report: Report) -> None:
        outbox = self.outbox
        assert outbox is not None
        if isinstance(report, Heartbeat):
            self._beat, self._beat_at = report, time.monotonic()
            self._remotes_known = self._remotes_known or report.remotes_known
            self.registry.duplicate_secrets = report.duplicate_secrets
        elif isinstance(report, SetState):
            age = self._age_of(report.cluster)
            outbox.set_state(report.cluster, report.state, report.error, report.errors, age)
        elif isinstance(report, SetNext):
            outbox.set_next(report.cluster, report.state, report.error)
        elif isinstance(report, Refuse):
            outbox.refuse(report.cluster, report.error, report.reason)
        elif isinstance(report, Unrefuse):
            outbox.unrefuse(report.cluster)
        elif isinstance(report, Together):
            with outbox.together(report.cluster):
                for change in report.changes:
                    self._change(outbox, change)
        else:
            self._change(outbox, report)

    @staticmethod
    def _change(outbox: Outbox, change: Change) -> None:
        if isinstance(change, PutCluster):
            outbox.put_cluster(change.cluster)
        elif isinstance(change, PutInstance):
            cluster, key = sys.intern(change.cluster), sys.intern(change.key)
            outbox.put_instance(cluster, key, _shared(change.instance))
        elif isinstance(change, PutEntry):
            outbox.put_entry(change.cluster, change.key, change.entry)
        elif isinstance(change, PutExport):
            outbox.put_export(change.cluster, change.key, change.export)
        elif isinstance(change, PutNamespaces):
            outbox.put_namespaces(change.namespaces)
        elif isinstance(change, DropCluster):
            outbox.drop_cluster(change.cluster, change.forget)

    def _age_of(self, cluster: str) -> DataAge:
        """The cluster's data age as the last heartbeat said, plus the time since it came."""

        def age() -> float | None:
            beat = self._beat
            said = beat.ages.get(cluster) if beat is not None else None
            return None if said is None else said + time.monotonic() - self._beat_at

        return age


def _shared(instance: Instance | None) -> Instance | None:
    """A decoded record with what every cluster repeats made one object again, as the watch
    side made it: a frame decodes each name and port anew (200,000 copies at 200 x 1,000)."""
    if instance is None:
        return None
    ports = _shared_ports(instance.ports)
    return Instance(sys.intern(instance.host), instance.addresses, instance.ready, ports)


@functools.lru_cache(maxsize=1024)
def _shared_ports(ports: tuple[Port, ...]) -> tuple[Port, ...]:
    """The first equal tuple seen: services mostly share a few port lists."""
    return ports


def _parts(
    head: Held,
    instances: list[tuple[str, Instance]],
    entries: list[tuple[str, Entry]],
    exports: list[tuple[str, Export]],
) -> Iterator[Held]:
    for at in range(0, max(len(instances), len(entries), len(exports), 1), HELD_PART):
        part = slice(at, at + HELD_PART)
        yield Held(
            head.cluster, head.state, head.synced_once, head.stale_for, head.record,
            dict(instances[part]), dict(entries[part]), dict(exports[part]),
        )  # fmt: skip
