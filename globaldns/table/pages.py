"""The table as `/table` serves it: in pages behind continue tokens, read without holding DNS.

Everything runs on the serving loop in slices of `SLICE_SECONDS`, each followed by a pause as
long, so admin work takes at most half the loop: working out a name's view reads state only
the loop may touch (a pinned name's view is resolved on demand, about 30 µs each: a second for
36,000 names), and the sort and the JSON go the same way, the sort as chunks merged lazily,
the JSON through the json module's own incremental encoder. A worker thread for the sort and
the JSON measured no better (three readers of 50,000 names: UDP p50 12.5 ms, max 79 ms, on a
machine loaded 8 on 2 cores, against 11 and 104 in slices): what the loop gains in turns it
loses to the GIL. One page at a time (the admin server's lock) is what cut DNS's wait, to one
slice (p50 4.5 ms there; the slices themselves measured ~1 ms of CPU each).

A full listing sorts a snapshot of the names once and serves it `PAGE_NAMES` at a time, as
the Kubernetes API pages a list: each page names the next with a `continue` token, good for
`LISTING_SECONDS` after its page on the server that issued it (a new listing, a restarted
server or another replica answers a stale one with 410, and the client starts again).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from globaldns.errors import GlobalDnsError
from globaldns.table.render import name_json
from globaldns.table.table import Table
from globaldns.table.views import NameView

PAGE_NAMES = 500  # names per page at most: ~180 kB of JSON, 15 ms of views made in slices
SLICE_SECONDS = 0.001  # work done before the loop is handed back for as long
SORT_CHUNK = 4096  # names sorted in one C call (~0.2 ms)
LISTINGS = 8  # listings kept at once; the least recently read is dropped first
LISTING_SECONDS = 300.0  # a listing is dropped this long after its last page

_T = TypeVar("_T")
_R = TypeVar("_R")


class UnknownNames(GlobalDnsError, LookupError):
    """Names asked about (`/table?name=`, `globaldns table NAME`) that the table does not hold."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(f"not in the table: {', '.join(names)}")
        self.names = tuple(names)


class BadContinue(GlobalDnsError, ValueError):
    """A continue token this server never issues (malformed)."""


class ExpiredContinue(GlobalDnsError, LookupError):
    """A well-formed continue token whose listing is gone (expired, dropped, or another
    server's): the client starts the listing again."""


@dataclass(frozen=True)
class Page:
    """One `/table` response: `head` (clusters, gateways) as read when the page was made."""

    head: Mapping[str, object]
    views: Sequence[NameView]
    zone: str
    token: str | None = None

    def document(self) -> dict[str, object]:
        """The page at once (`globaldns table --format json`, which serves nobody else)."""
        return self._body([name_json(view, self.zone) for view in self.views])

    async def text(self) -> str:
        """The page's JSON as `document()` would print it, written in slices on the loop."""
        names = await in_slices(self.views, lambda view: name_json(view, self.zone))
        encoder = json.JSONEncoder(indent=1).iterencode(self._body(names))
        return "".join(await in_slices(encoder, str)) + "\n"

    def _body(self, names: list[dict[str, object]]) -> dict[str, object]:
        body: dict[str, object] = {**self.head, "names": names}
        if self.token is not None:
            body["continue"] = self.token
        return body


@dataclass
class _Listing:
    names: list[str]  # sorted, as of the first page
    used: float


def named_views(
    table: Table, names: Sequence[str], found: Sequence[NameView | None]
) -> list[NameView]:
    """The views `found` for `names` (one each, in order), each name once; `UnknownNames` for
    any the table lacks."""
    missing = [name for name, view in zip(names, found, strict=True) if view is None]
    if missing:
        raise UnknownNames([_absolute(name, table.config.zone) for name in missing])
    return list({view.name: view for view in found if view is not None}.values())


def _absolute(name: str, zone: str) -> str:
    """`Foo.global.`, `foo.global` and `foo` all name `foo.global.` in messages."""
    name = name.strip(".").lower()
    return f"{name}." if name.endswith(f".{zone}") else f"{name}.{zone}."


async def in_slices(items: Iterable[_T], work: Callable[[_T], _R]) -> list[_R]:
    """`work(item)` for each item, on the loop, handing it back for `SLICE_SECONDS` after
    every `SLICE_SECONDS` of work."""
    done: list[_R] = []
    deadline = time.perf_counter() + SLICE_SECONDS
    for item in items:
        done.append(work(item))
        if time.perf_counter() > deadline:
            await asyncio.sleep(SLICE_SECONDS)
            deadline = time.perf_counter() + SLICE_SECONDS
    return done


async def sorted_in_slices(names: list[str]) -> list[str]:
    """`sorted(names)`: one sort of 50,000 names is one C call of ~4 ms; chunks of it, merged
    lazily, take turns with the loop."""
    starts = range(0, len(names), SORT_CHUNK)
    chunks = await in_slices(starts, lambda start: sorted(names[start : start + SORT_CHUNK]))
    return await in_slices(heapq.merge(*chunks), str)


class TablePages:
    """`/table`'s pages and `?name=` answers, made without holding the serving loop."""

    def __init__(
        self,
        table: Table,
        head: Callable[[], Mapping[str, object]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.head = head  # clusters and gateways: cheap, read on the loop
        self.clock = clock
        self._listings: OrderedDict[str, _Listing] = OrderedDict()

    async def named(self, names: Sequence[str]) -> Page:
        """Just `names`, explained; `UnknownNames` for any the table lacks."""
        found = await in_slices(names, self.table.lookup)
        views = named_views(self.table, names, found)
        return Page(self.head(), views, self.table.config.zone)

    async def page(self, token: str | None, limit: int = PAGE_NAMES) -> Page:
        """The first page of a new listing (no token), or the page `token` names; at most
        `limit` names, and a token for the next page unless this is the last."""
        if token is None:
            key, offset = secrets.token_hex(8), 0
            names = await sorted_in_slices(self.table.names())
            listing = self._keep(key, _Listing(names, self.clock()))
        else:
            key, offset = _parse(token)
            listing = self._find(key)
        end = offset + limit
        views = [
            view
            for view in await in_slices(listing.names[offset:end], self.table.view)
            if view is not None
        ]
        more = end < len(listing.names)
        if more:
            listing.used = self.clock()
        else:
            self._listings.pop(key, None)
        head = self.head() if offset == 0 else {}
        return Page(head, views, self.table.config.zone, f"{key}.{end}" if more else None)

    def _keep(self, key: str, listing: _Listing) -> _Listing:
        self._expire()
        self._listings[key] = listing
        while len(self._listings) > LISTINGS:
            self._listings.popitem(last=False)
        return listing

    def _find(self, key: str) -> _Listing:
        self._expire()
        listing = self._listings.get(key)
        if listing is None:
            raise ExpiredContinue(
                f"continue token expired: a listing is kept {LISTING_SECONDS:g} s after its "
                f"last page, {LISTINGS} at most, by the server that issued it; start again "
                "from /table"
            )
        self._listings.move_to_end(key)
        return listing

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, v in self._listings.items() if now - v.used > LISTING_SECONDS]:
            del self._listings[key]


def _parse(token: str) -> tuple[str, int]:
    """`KEY.OFFSET`, as `page` writes it."""
    key, _, offset = token.partition(".")
    digits = offset.isascii() and offset.isdigit()
    if len(key) != 16 or not digits or any(c not in "0123456789abcdef" for c in key):
        raise BadContinue(
            f"continue token {token[:40]!r} is not one this server gives; take it from the "
            "previous page's `continue`, or start again from /table"
        )
    return key, int(offset)
