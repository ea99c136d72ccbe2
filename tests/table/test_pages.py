"""`/table`'s pages in-process: a listing's order, its tokens' lifetime, and what a page holds."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from globaldns.dns.zone import ZoneConfig
from globaldns.table.model import Cluster, Instance
from globaldns.table.pages import (
    LISTING_SECONDS,
    LISTINGS,
    SORT_CHUNK,
    ExpiredContinue,
    Page,
    TablePages,
    UnknownNames,
    sorted_in_slices,
)
from globaldns.table.table import Table


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table() -> Table:
    """Ten services in one cluster of one region: 30 names (each service, its pins)."""
    t = Table(ZoneConfig(), local_cluster="west1")
    t.put_cluster(Cluster("west1", "west", ("192.0.2.1",)))
    for i in range(10):
        t.put_instance("west1", f"ns/s{i}", Instance(f"s{i}.ns", (f"10.0.0.{i}",), 1))
    t.commit()
    return t


def test_sorted_in_slices_sorts_across_chunks() -> None:
    names = [f"n{random.randrange(10**9)}" for _ in range(3 * SORT_CHUNK + 7)]
    assert asyncio.run(sorted_in_slices(names)) == sorted(names)


def test_a_page_written_in_slices_is_the_page_printed_at_once(table: Table) -> None:
    page = Page({"clusters": []}, list(table.views()), "global", "0123456789abcdef.4")
    assert asyncio.run(page.text()) == json.dumps(page.document(), indent=1) + "\n"


def test_a_listing_unread_past_its_lifetime_is_gone(table: Table) -> None:
    clock = Clock()
    pages = TablePages(table, dict, clock)

    async def scenario() -> None:
        first = await pages.page(None, limit=4)
        assert first.token is not None
        clock.now += LISTING_SECONDS - 1
        second = await pages.page(first.token, limit=4)  # read in time: kept again as long
        assert second.token is not None
        clock.now += LISTING_SECONDS + 1
        with pytest.raises(ExpiredContinue):
            await pages.page(second.token, limit=4)

    asyncio.run(scenario())


def test_a_new_listing_past_the_limit_drops_the_least_recently_read(table: Table) -> None:
    pages = TablePages(table, dict, Clock())

    async def scenario() -> None:
        tokens = [(await pages.page(None, limit=1)).token for _ in range(LISTINGS)]
        await pages.page(tokens[0], limit=1)  # the oldest read again: the second is dropped
        await pages.page(None, limit=1)
        with pytest.raises(ExpiredContinue):
            await pages.page(tokens[1], limit=1)
        assert tokens[0] is not None
        await pages.page(tokens[0].rsplit(".", 1)[0] + ".2", limit=1)

    asyncio.run(scenario())


def test_a_finished_listing_is_dropped(table: Table) -> None:
    pages = TablePages(table, dict, Clock())

    async def scenario() -> None:
        first = await pages.page(None, limit=29)
        assert first.token is not None
        last = await pages.page(first.token, limit=29)
        assert last.token is None and len(first.views) + len(last.views) == table.size
        with pytest.raises(ExpiredContinue):
            await pages.page(first.token, limit=29)

    asyncio.run(scenario())


def test_names_asked_for_that_the_table_lacks_are_named(table: Table) -> None:
    pages = TablePages(table, dict, Clock())
    with pytest.raises(UnknownNames, match=r"nope\.global\."):
        asyncio.run(pages.named(["s1.ns.global", "nope"]))
