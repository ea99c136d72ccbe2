"""The hand-off from the watch thread to the serving loop: coalesced, ordered, bounded per turn.

The watch thread decodes and assembles; the serving loop only applies slim records to the Table
(which is not thread-safe): the Outbox is a feed of the table's commit scheduler, which applies
and compiles in short turns, so DNS queries are answered between turns however many events
arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from globaldns.sources.kubernetes.clients import CREDENTIALS
from globaldns.sources.status import DataAge, Registry, State
from globaldns.table.model import Cluster, Entry, Export, Instance, TableSink
from globaldns.table.scheduler import CommitScheduler

SOURCE = "kubernetes"

Op = tuple[Callable[..., None], tuple[Any, ...]]


class Changes(Protocol):
    """What the watches and views tell: the `Outbox` in the serving process, or the watch
    process's `Relay`, which sends the same over a pipe to an Outbox there."""

    def put_cluster(self, cluster: Cluster) -> None: ...
    def put_instance(self, cluster: str, key: str, instance: Instance | None) -> None: ...
    def put_entry(self, cluster: str, key: str, entry: Entry | None) -> None: ...
    def put_export(self, cluster: str, key: str, export: Export | None) -> None: ...
    def put_namespaces(self, namespaces: frozenset[str] | None) -> None: ...
    def set_state(
        self,
        cluster: str,
        state: State,
        error: str = "",
        errors: int = 0,
        data_age: DataAge | None = None,
    ) -> None: ...
    def set_next(self, cluster: str, state: State | None, error: str = "") -> None: ...
    def together(self, cluster: str) -> contextlib.AbstractContextManager[None]: ...
    def refuse(self, cluster: str, error: str, reason: str) -> None: ...
    def unrefuse(self, cluster: str) -> None: ...
    def drop_cluster(self, name: str, forget: bool = False) -> None: ...
    def idle(self) -> bool: ...


class Outbox:
    """Thread-safe; the last change to one (kind, cluster, key) within a batch is the one kept.

    A feed of `scheduler`: its turns apply these changes; a change that raises (a bug) is
    logged and counted there (`CommitScheduler.guarded`), and the changes after it still arrive.
    """

    def __init__(
        self,
        sink: TableSink,
        registry: Registry,
        loop: asyncio.AbstractEventLoop,
        scheduler: CommitScheduler,
    ) -> None:
        self._sink = sink
        self._registry = registry
        self._loop = loop
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], Op] = {}
        self._draining: deque[Op] = deque()
        self._woken = False  # the scheduler was woken and these changes are not all applied
        self._together: list[Op] | None = None  # ops gathered by `together()`, in order
        self._batches = itertools.count()  # each batch its own key: none replaces another
        # No cluster has synced yet: a name nobody holds may still come (SERVFAIL, not NXDOMAIN).
        self._complete = False
        sink.set_complete(False)
        scheduler.attach(self)

    # -- called from the watch thread ------------------------------------------------------
    def put_cluster(self, cluster: Cluster) -> None:
        self._add(("cluster", cluster.name, ""), (self._sink.put_cluster, (cluster,)))

    def put_instance(self, cluster: str, key: str, instance: Instance | None) -> None:
        self._add(("instance", cluster, key), (self._sink.put_instance, (cluster, key, instance)))

    def put_entry(self, cluster: str, key: str, entry: Entry | None) -> None:
        self._add(("entry", cluster, key), (self._sink.put_entry, (cluster, key, entry)))

    def put_export(self, cluster: str, key: str, export: Export | None) -> None:
        self._add(("export", cluster, key), (self._sink.put_export, (cluster, key, export)))

    def put_namespaces(self, namespaces: frozenset[str] | None) -> None:
        """The local cluster's namespaces (SPEC §7): the latest set is the one kept."""
        self._add(("namespaces", "", ""), (self._sink.put_namespaces, (namespaces,)))

    def set_state(
        self,
        cluster: str,
        state: State,
        error: str = "",
        errors: int = 0,
        data_age: DataAge | None = None,
    ) -> None:
        """`error` (text from a cluster) is shown in `/table`: redacted there as in logs."""
        op = (self._apply_state, (cluster, state, CREDENTIALS.redact(error), errors, data_age))
        self._add(("state", cluster, ""), op)

    def set_next(self, cluster: str, state: State | None, error: str = "") -> None:
        """The state of a new connection made beside the serving one (None: there is none)."""
        op = (self._registry.set_next, (cluster, state, error))
        self._add(("next", cluster, ""), op)

    @contextlib.contextmanager
    def together(self, cluster: str) -> Iterator[None]:
        """The changes made inside reach the table as one: applied in one turn, then committed
        (a new connection's data replacing the old never shows half old, half gone)."""
        self._together = []
        try:
            yield
        finally:
            ops, self._together = self._together, None
        self._add(("together", cluster, str(next(self._batches))), (self._apply_all, (ops,)))

    def _apply_all(self, ops: list[Op]) -> None:
        for function, args in ops:
            self._scheduler.guarded(function, *args)

    def refuse(self, cluster: str, error: str, reason: str) -> None:
        """The cluster's remote Secret was refused."""
        op = (self._apply_refusal, (cluster, CREDENTIALS.redact(error), reason))
        self._add(("refuse", cluster, error), op)

    def unrefuse(self, cluster: str) -> None:
        """The cluster's Secret was accepted again, or removed: no longer shown as refused."""
        self._add(("unrefuse", cluster, ""), (self._apply_unrefusal, (cluster,)))

    def drop_cluster(self, name: str, forget: bool = False) -> None:
        """Everything pending for the cluster is moot; the drop goes after what came before."""
        with self._lock:
            for key in [k for k in self._pending if k[1] == name]:
                del self._pending[key]
        self._add(("drop", name, ""), (self._sink.drop_cluster, (name,)))
        if forget:
            self._add(("forget", name, ""), (self._forget, (name,)))

    def _add(self, key: tuple[str, str, str], op: Op) -> None:
        if self._together is not None:  # the watch thread, inside `together()`
            self._together.append(op)
            return
        with self._lock:
            self._pending.pop(key, None)  # re-insert at the end: keep the order of changes
            self._pending[key] = op
            if self._woken:
                return
            self._woken = True
        self._scheduler.wake(self._loop)

    # -- called on the serving loop --------------------------------------------------------
    def _apply_state(
        self, cluster: str, state: State, error: str, errors: int, data_age: DataAge | None
    ) -> None:
        self._registry.set(cluster, SOURCE, state, error, errors, data_age)
        self._follow_complete()

    def _apply_refusal(self, cluster: str, error: str, reason: str) -> None:
        self._registry.refuse(cluster, SOURCE, error, reason)
        self._follow_complete()

    def _apply_unrefusal(self, cluster: str) -> None:
        self._registry.unrefuse(cluster)

    def _forget(self, cluster: str) -> None:
        self._registry.forget(cluster)
        self._follow_complete()

    def _follow_complete(self) -> None:
        complete = self._registry.complete()
        if complete != self._complete:
            self._complete = complete
            self._sink.set_complete(complete)

    def apply(self, until: float) -> bool:
        """The scheduler's turn: apply changes, in the order they came, until `until`."""
        if not self._draining:
            with self._lock:
                self._draining.extend(self._pending.values())
                self._pending = {}
        while self._draining:
            function, args = self._draining.popleft()
            self._scheduler.guarded(function, *args)
            if time.perf_counter() > until:
                break
        with self._lock:
            if self._draining or self._pending:
                return False
            self._woken = False  # the next change wakes the scheduler again
            return True

    def idle(self) -> bool:
        """Every change handed over is applied and compiled."""
        with self._lock:
            return not self._woken and self._scheduler.idle()
