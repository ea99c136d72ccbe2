"""The watch process's Outbox: what the watches and views tell, sent as frames to the serving
process, whose Outbox applies it as if it had been told in process.

Messages gather during one turn of the watch process's loop and leave together at its end (a
list of 1,000 Services is one or a few frames, not 1,000 writes). Errors are redacted here,
where the credentials of remote Secrets are known. Writing blocks when the serving process
reads slower than this one decodes: that is the back-pressure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import BinaryIO

from globaldns.sources.kubernetes.clients import CREDENTIALS
from globaldns.sources.kubernetes.frames import (
    Change,
    DropCluster,
    Heartbeat,
    PutCluster,
    PutEntry,
    PutExport,
    PutInstance,
    PutNamespaces,
    Refuse,
    Report,
    SetNext,
    SetState,
    Together,
    Unrefuse,
    frames,
)
from globaldns.sources.status import DataAge, State
from globaldns.table.model import Cluster, Entry, Export, Instance


class Relay:
    """A `Changes` that writes frames to `out`; call from the watch process's loop only."""

    def __init__(self, out: BinaryIO, loop: asyncio.AbstractEventLoop) -> None:
        self._out = out
        self._loop = loop
        self._batch: list[Report] = []
        self._together: list[Change] | None = None
        self.ages: dict[str, DataAge] = {}  # each cluster's data age, sent with the heartbeat

    def put_cluster(self, cluster: Cluster) -> None:
        self._add(PutCluster(cluster))

    def put_instance(self, cluster: str, key: str, instance: Instance | None) -> None:
        self._add(PutInstance(cluster, key, instance))

    def put_entry(self, cluster: str, key: str, entry: Entry | None) -> None:
        self._add(PutEntry(cluster, key, entry))

    def put_export(self, cluster: str, key: str, export: Export | None) -> None:
        self._add(PutExport(cluster, key, export))

    def put_namespaces(self, namespaces: frozenset[str] | None) -> None:
        self._add(PutNamespaces(namespaces))

    def drop_cluster(self, name: str, forget: bool = False) -> None:
        self._add(DropCluster(name, forget))
        if forget:
            self.ages.pop(name, None)

    def set_state(
        self,
        cluster: str,
        state: State,
        error: str = "",
        errors: int = 0,
        data_age: DataAge | None = None,
    ) -> None:
        if data_age is not None:
            self.ages[cluster] = data_age
        self._add(SetState(cluster, state, CREDENTIALS.redact(error), errors))

    def set_next(self, cluster: str, state: State | None, error: str = "") -> None:
        self._add(SetNext(cluster, state, CREDENTIALS.redact(error)))

    @contextlib.contextmanager
    def together(self, cluster: str) -> Iterator[None]:
        self._together = []
        try:
            yield
        finally:
            changes, self._together = self._together, None
        self._add(Together(cluster, changes))

    def refuse(self, cluster: str, error: str, reason: str) -> None:
        self._add(Refuse(cluster, CREDENTIALS.redact(error), reason))

    def unrefuse(self, cluster: str) -> None:
        self._add(Unrefuse(cluster))

    def idle(self) -> bool:
        return not self._batch

    def heartbeat(self, bugs: int, remotes_known: bool, duplicate_secrets: int) -> None:
        ages = {name: age for name, read in self.ages.items() if (age := read()) is not None}
        self._add(Heartbeat(bugs, remotes_known, duplicate_secrets, ages))

    def _add(self, message: Report) -> None:
        if self._together is not None and isinstance(message, Change):
            self._together.append(message)
            return
        if not self._batch:
            self._loop.call_soon(self.flush)
        self._batch.append(message)

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        for frame in frames(batch):
            self._out.write(frame)
        self._out.flush()
