"""The hand-off from the watch thread to the serving loop: coalesced, ordered, bounded per turn.

The watch thread decodes and assembles; the serving loop only applies slim records to the Table
(which is not thread-safe) and compiles, within `turn_seconds` per loop turn, so DNS queries are
answered between turns however many events arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from globaldns.sources.kubernetes.clients import CREDENTIALS
from globaldns.sources.status import DataAge, Registry, State
from globaldns.table.model import Cluster, Entry, Instance, TableSink

log = logging.getLogger(__name__)

SOURCE = "kubernetes"

Op = tuple[Callable[..., None], tuple[Any, ...]]


class Outbox:
    """Thread-safe; the last change to one (kind, cluster, key) within a batch is the one kept."""

    def __init__(
        self,
        sink: TableSink,
        registry: Registry,
        loop: asyncio.AbstractEventLoop,
        turn_seconds: float = 0.0005,
    ) -> None:
        self._sink = sink
        self._registry = registry
        self._loop = loop
        self._turn = turn_seconds
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], Op] = {}
        self._draining: deque[Op] = deque()
        self._scheduled = False
        self._logged: set[str] = set()
        self._together: list[Op] | None = None  # ops gathered by `together()`, in order
        self._batches = itertools.count()  # each batch its own key: none replaces another
        self.errors = 0  # changes (or commits) that raised: bugs, logged once each, counted
        # No cluster has synced yet: a name nobody holds may still come (SERVFAIL, not NXDOMAIN).
        self._complete = False
        sink.set_complete(False)

    # -- called from the watch thread ------------------------------------------------------
    def put_cluster(self, cluster: Cluster) -> None:
        self._add(("cluster", cluster.name, ""), (self._sink.put_cluster, (cluster,)))

    def put_instance(self, cluster: str, key: str, instance: Instance | None) -> None:
        self._add(("instance", cluster, key), (self._sink.put_instance, (cluster, key, instance)))

    def put_entry(self, cluster: str, key: str, entry: Entry | None) -> None:
        self._add(("entry", cluster, key), (self._sink.put_entry, (cluster, key, entry)))

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
            self._guarded(function, *args)

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
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain)

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

    def _drain(self) -> None:
        """One turn: apply changes for half the turn, then compile for what is left of it.

        Changes are cheap to apply and compiling is what costs, so a flood (a first sync, a
        gateway that moved) is applied quickly and its names compiled once each, while DNS
        queries are answered between turns. A change that raises is a bug: it is logged and
        counted, and the changes after it still arrive.
        """
        compiled = True
        try:
            compiled = self._turn_once()
        finally:
            with self._lock:
                if self._draining or self._pending or not compiled:
                    self._loop.call_soon(self._drain)
                else:
                    self._scheduled = False

    def _turn_once(self) -> bool:
        if not self._draining:
            with self._lock:
                self._draining.extend(self._pending.values())
                self._pending = {}
        started = time.perf_counter()
        applying_until = started + self._turn / 2
        while self._draining:
            function, args = self._draining.popleft()
            self._guarded(function, *args)
            if time.perf_counter() > applying_until:
                break
        budget = max(0.0, started + self._turn - time.perf_counter())
        compiled = self._guarded(self._sink.commit, budget)
        return compiled is not False  # a commit that raised is not retried until a change

    def _guarded(self, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except Exception:
            self.errors += 1
            name = getattr(function, "__qualname__", repr(function))
            if name not in self._logged:
                self._logged.add(name)
                log.exception("internal error applying %s; later changes still apply", name)
            return None

    def idle(self) -> bool:
        with self._lock:
            return not self._scheduled
