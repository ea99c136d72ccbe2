"""The table's one commit scheduler: every writer's changes applied, then compiled, in short
turns on the serving loop, so DNS queries are answered between turns however much changed.

A turn spends the first half of `BUDGET` applying what the feeds hold (each feed applies at
least one change per turn, so none starves), the rest compiling (`commit`), both in slices of
`SLICE` and each ending early when the DNS sockets hold a query (`yield_to`), settles the
heap (`runtime.settle`) and, while anything is left, runs again on the loop's next turn: the
queries that came meanwhile are answered first. Changes are cheap to apply and compiling is
what costs, so a flood (a first sync, a gateway that moved, a reload of the whole mesh file) is
applied quickly and each of its names compiled once. Each name is swapped in whole, so an
answer never blanks between turns.

The writers: the mesh reload (`apply`, awaited), the Kubernetes hand-off (a `Feed` the watch
thread fills) and the prober (`soon` after it wrote a gateway's health). One scheduler per
table means one commit per loop turn whoever wrote.

Why one budget of 1 ms: a turn is the longest a query waits behind compiling, and every turn
costs a loop iteration and the commit's bookkeeping on top of its work. Before, the hand-off
used 0.5 ms, the mesh reload 1 ms and the prober 2 ms. Measured on the project's 2-core machine
(shared: load 5-7, so wall-clock figures were noise and these are CPU figures): in process, a
reload of every line of a 5,000-service mesh file (`time.thread_time` per turn, two rounds),
and `bench/kube_bench.py --clusters 50 --services 1000 --changes 200`:

    budget   turns      longest turn  CPU of the reload  first sync CPU  propagation p99
    0.25 ms  1450-1630  1.5-1.6 ms    0.52-0.60 s
    0.5 ms   800-830    1.7-2.1 ms    0.56-0.58 s        8.0 s           62 ms
    1 ms     410-500    2.4-2.5 ms    0.49-0.59 s        7.1 s           43 ms
    2 ms     230-240    3.9-4.0 ms    0.51 s             7.2 s           56 ms
    4 ms     137-141    8.0-8.1 ms    0.53-0.54 s

A turn overran its budget about twice over (the commit first reclaims every host the applied
half touched, then compiles by budget; the heap is settled after), so an answer could wait
about twice the budget. Since both halves run in `SLICE`s and end when a query waits, a query
waits behind one slice and the change or name in hand: at 200 clusters x 100 services under
1,000 updates/s (every name answering 199 remote clusters, each flip recompiling one), turns
took 2.1 ms wall at p99 before and 1.4 ms after, DNS p99 2.9 ms before and 2.0 ms after.
Without a waiting query, above 1 ms the wait grew with the budget and no CPU was saved; below
it the wait shrank by less than the turns multiplied, and a first sync (a flood of turns; one
run each) cost more. A single change is one short turn whatever the budget, so propagation
does not depend on it (its p99 is the machine's noise, far inside SPEC §6's 100 ms). 1 ms keeps
a reload of any size within "a few ms" of delay (SPEC §6).

The first step of a commit, reclaiming the hosts the applied changes touched, used to run whole
inside the first slice: under 1,000 updates/s at 200 x 1,000 a turn's changes touch up to 50
hosts, some 0.6 ms at once (a commit's reclaiming measured 0.36 ms at p99, 3 ms at most). It
now runs host by host within the slices too, and a slice applies more only once it is done, so
applying never runs ahead of it: the reclaiming in one commit fell to 0.08 ms at p99, a commit
from 1.1 to 0.7 ms at p99 (instrumented server, 5-second phases).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from globaldns import runtime

log = logging.getLogger(__name__)

BUDGET = 0.001  # seconds of work per loop turn: half applying, the rest compiling
# Each half runs in slices of this, and ends early after a slice when a query is waiting
# (`yield_to`): it waits behind one slice and the change or name in hand, not a whole turn.
SLICE = 0.0002


class Committing(Protocol):
    """What the scheduler drives: the table's budgeted commit, and its first step alone."""

    def commit(self, budget: float | None = None) -> bool: ...

    def reclaim(self, until: float) -> bool: ...


class Feed(Protocol):
    """A writer whose changes wait for the scheduler's turns (the Kubernetes hand-off)."""

    def apply(self, until: float) -> bool:
        """Write waiting changes into the table, at least one, until `time.perf_counter()`
        passes `until`; True when none is left."""


class _Steps:
    """A one-off feed: an iterator that writes into the table, pausing at each `yield`."""

    def __init__(self, steps: Iterator[None], done: asyncio.Future[None]) -> None:
        self.steps = steps
        self.done = done
        self.applied = False

    def apply(self, until: float) -> bool:
        if self.done.cancelled():  # its writer was cancelled: nothing more of it is written
            self.applied = True
            return True
        try:
            for _ in self.steps:
                if time.perf_counter() > until:
                    return False
        except Exception as err:  # a bug: the writer awaiting these steps raises it
            self.done.set_exception(err)
        self.applied = True
        return True


class CommitScheduler:
    """Runs on the serving loop; `wake()` is the one method other threads may call."""

    def __init__(self, table: Committing, budget: float = BUDGET) -> None:
        self._table = table
        self._budget = budget
        self._feeds: list[Feed] = []
        self._once: list[_Steps] = []
        self._scheduled = False
        self._logged: set[str] = set()
        self._waiting: Callable[[], bool] = _never
        self.errors = 0  # changes, feeds or commits that raised: bugs (see `guarded`)

    def yield_to(self, waiting: Callable[[], bool]) -> None:
        """`waiting()` says whether a DNS query waits to be read: a turn then ends early."""
        self._waiting = waiting

    def attach(self, feed: Feed) -> None:
        """A writer that stays: its changes are applied at every turn it has some."""
        self._feeds.append(feed)

    def soon(self) -> None:
        """Something was written or waits in a feed: turn until it is applied and compiled."""
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._turn)

    def wake(self, loop: asyncio.AbstractEventLoop) -> None:
        """`soon()` from another thread (the watch thread, after filling its feed)."""
        loop.call_soon_threadsafe(self.soon)

    async def apply(self, steps: Iterator[None]) -> None:
        """Write `steps` in turns; return once they are all applied and compiled."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        once = _Steps(steps, done)
        self._once.append(once)
        self.soon()
        await done

    def idle(self) -> bool:
        """Everything written is applied and compiled (no turn is coming)."""
        return not self._scheduled

    def _turn(self) -> None:
        started = time.perf_counter()
        left = self._apply(started + self._budget / 2)
        compiled = self._compile(started + self._budget)
        runtime.settle()
        if compiled:
            self._finish_steps()
        self._scheduled = False
        if left or not compiled:
            self.soon()

    def _apply(self, until: float) -> bool:
        """Apply the feeds' changes in slices until `until`, or sooner when a query waits (each
        feed applies one change at least, once reclaiming is done); whether any feed has changes
        left.

        A slice first reclaims the hosts the changes before it touched (`Committing.reclaim`),
        and applies more only once they all are: applying runs no further ahead of compiling
        than one slice, however long a flood lasts.
        """
        while True:
            step = min(until, time.perf_counter() + SLICE)
            left = self.guarded(self._table.reclaim, step) is False
            for feed in () if left else (*self._feeds, *self._once):
                left = self.guarded(feed.apply, step) is False or left
            if not left or time.perf_counter() >= until or self._waiting():
                return left

    def _compile(self, deadline: float) -> bool:
        """Commit in slices until everything is compiled, the turn's time is spent, or a query
        waits; whether everything is compiled (a commit that raised counts as done: it is not
        retried until something else is written)."""
        while True:
            budget = max(0.0, min(SLICE, deadline - time.perf_counter()))
            compiled = self.guarded(self._table.commit, budget) is not False
            if compiled or time.perf_counter() >= deadline or self._waiting():
                return compiled

    def _finish_steps(self) -> None:
        """The one-off writers whose steps were all applied are done: everything is compiled."""
        for steps in [s for s in self._once if s.applied]:
            self._once.remove(steps)
            if not steps.done.done():
                steps.done.set_result(None)

    def guarded(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(*args)`, or None if it raised: a bug, logged once per function (with its
        traceback) and counted in `errors`, so that the changes after it still arrive."""
        try:
            return function(*args)
        except Exception:
            self.errors += 1
            name = getattr(function, "__qualname__", repr(function))
            if name not in self._logged:
                self._logged.add(name)
                log.exception("internal error in %s; later changes still apply", name)
            return None


def _never() -> bool:
    return False
