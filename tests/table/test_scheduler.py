"""The table's one commit scheduler: writes applied and compiled in short turns on the loop,
every writer served each turn, one commit per turn whoever asked, bugs counted not fatal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from globaldns.dns.zone import ZoneConfig
from globaldns.table.model import Cluster, Instance
from globaldns.table.scheduler import SLICE, CommitScheduler
from globaldns.table.table import Table


def services(table: Table, count: int, address: str) -> Iterator[None]:
    """Writes `count` services of cluster a, pausing after each."""
    for n in range(count):
        table.put_instance("a", f"ns/s{n}", Instance(f"s{n}.ns", (address,), 1))
        yield


def new_table() -> Table:
    table = Table(ZoneConfig(), local_cluster="a")
    table.put_cluster(Cluster("a", "west", ()))
    table.commit()
    return table


class Queue:
    """A feed of numbered writes, recording which it applied."""

    def __init__(self, count: int) -> None:
        self.waiting = list(range(count))
        self.applied: list[int] = []

    def apply(self, until: float) -> bool:
        self.applied.append(self.waiting.pop(0))
        return not self.waiting


def test_a_write_in_steps_is_applied_in_turns_and_compiled_when_apply_returns() -> None:
    table = new_table()
    scheduler = CommitScheduler(table, budget=0.0)
    turns: list[int] = []

    async def write() -> None:
        writing = asyncio.ensure_future(scheduler.apply(services(table, 20, "10.0.0.1")))
        while not writing.done():
            turns.append(table.commits)
            await asyncio.sleep(0)
        await writing

    asyncio.run(write())
    assert len(set(turns)) > 10  # one service per turn: the loop ran between them
    assert table.pending == 0 and scheduler.idle()
    assert {view.name for view in table.views()} >= {f"s{n}.ns" for n in range(20)}


def test_every_feed_applies_a_change_each_turn_however_short_the_budget() -> None:
    first, second = Queue(3), Queue(3)
    scheduler = CommitScheduler(new_table(), budget=0.0)
    scheduler.attach(first)
    scheduler.attach(second)

    async def one_turn() -> tuple[list[int], list[int]]:
        scheduler.soon()
        await asyncio.sleep(0)
        return list(first.applied), list(second.applied)

    assert asyncio.run(one_turn()) == ([0], [0])


def test_writers_that_ask_in_one_loop_turn_get_one_commit() -> None:
    table = new_table()
    scheduler = CommitScheduler(table)
    before = table.commits

    async def three_writers() -> None:
        for _ in range(3):
            scheduler.soon()
        while not scheduler.idle():
            await asyncio.sleep(0)

    asyncio.run(three_writers())
    assert table.commits == before + 1


def test_a_write_that_raises_raises_in_its_writer_and_what_it_wrote_is_compiled() -> None:
    table = new_table()
    scheduler = CommitScheduler(table)

    def broken() -> Iterator[None]:
        yield from services(table, 2, "10.0.0.1")
        raise RuntimeError("a bug in the writer")

    with pytest.raises(RuntimeError, match="a bug in the writer"):
        asyncio.run(scheduler.apply(broken()))
    assert table.pending == 0 and scheduler.idle()
    assert {view.name for view in table.views()} >= {"s0.ns", "s1.ns"}


def test_a_cancelled_write_writes_nothing_more() -> None:
    table = new_table()
    scheduler = CommitScheduler(table, budget=0.0)

    async def cancel_after_a_turn() -> None:
        writing = asyncio.ensure_future(scheduler.apply(services(table, 50, "10.0.0.1")))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        writing.cancel()
        await asyncio.gather(writing, return_exceptions=True)
        while not scheduler.idle():
            await asyncio.sleep(0)

    asyncio.run(cancel_after_a_turn())
    assert 0 < len({view.name for view in table.views()} & {f"s{n}.ns" for n in range(50)}) < 50


class SlowTable:
    """A table with much to compile: each commit spends its whole budget and leaves more."""

    def __init__(self) -> None:
        self.commits = 0

    def reclaim(self, until: float) -> bool:
        return True  # claims are not kept: nothing to bring in line

    def commit(self, budget: float | None = None) -> bool:
        self.commits += 1
        until = time.perf_counter() + (budget or 0.0)
        while time.perf_counter() < until:
            pass
        return False


def commits_in_one_turn(scheduler: CommitScheduler, table: SlowTable) -> int:
    async def turn() -> int:
        scheduler.soon()
        await asyncio.sleep(0)
        return table.commits

    return asyncio.run(turn())


def test_a_turn_compiles_in_slices_until_its_budget_is_spent() -> None:
    table = SlowTable()
    scheduler = CommitScheduler(table, budget=0.01)
    assert commits_in_one_turn(scheduler, table) >= 0.01 / SLICE * 0.8


def test_a_turn_stops_compiling_after_one_slice_when_a_query_waits() -> None:
    table = SlowTable()
    scheduler = CommitScheduler(table, budget=0.01)
    scheduler.yield_to(lambda: True)
    assert commits_in_one_turn(scheduler, table) == 1


class BehindTable:
    """A table still reclaiming what was applied before, for `behind` more slices; records
    what the scheduler asked of it, and of its feed, in order."""

    def __init__(self, behind: int) -> None:
        self.behind = behind
        self.calls: list[str] = []

    def reclaim(self, until: float) -> bool:
        self.calls.append("reclaim")
        if self.behind:
            self.behind -= 1
            return False
        return True

    def commit(self, budget: float | None = None) -> bool:
        self.calls.append("commit")
        return True

    def apply(self, until: float) -> bool:
        self.calls.append("apply")
        return True


def test_no_change_is_applied_until_the_hosts_touched_before_are_reclaimed() -> None:
    table = BehindTable(behind=3)
    scheduler = CommitScheduler(table, budget=1.0)
    scheduler.attach(table)

    async def turn() -> None:
        scheduler.soon()
        await asyncio.sleep(0)

    asyncio.run(turn())
    assert table.calls == ["reclaim"] * 4 + ["apply", "commit"]


class SlowFeed:
    """A writer with much to apply: each call spends until `until` and leaves more."""

    def __init__(self) -> None:
        self.calls = 0

    def apply(self, until: float) -> bool:
        self.calls += 1
        while time.perf_counter() < until:
            pass
        return False


def test_applying_stops_after_one_slice_when_a_query_waits() -> None:
    feed = SlowFeed()
    scheduler = CommitScheduler(new_table(), budget=0.01)
    scheduler.attach(feed)
    scheduler.yield_to(lambda: True)

    async def turn() -> int:
        scheduler.soon()
        await asyncio.sleep(0)
        return feed.calls

    assert asyncio.run(turn()) == 1
