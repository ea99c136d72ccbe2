"""One `globaldns compare` run: read what our globaldns holds, ask both servers every name in
A and AAAA, and keep the differences.

At most `concurrency` names are in flight at once (each asks both servers, both types), so the
load on either server and the sockets held here are bounded whatever the table's size.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from globaldns.compare.asking import Server, identify, question
from globaldns.compare.ours import Listing, read_listing
from globaldns.compare.rules import Difference, Known, compare
from globaldns.dns.wire import fits

TYPES = ("A", "AAAA")
# The name asked below each wildcard: one label no Service or entry is likely to have.
SAMPLE_LABEL = "globaldns-compare-sample"


@dataclass(frozen=True)
class Options:
    theirs: Server
    ours: Server
    admin: tuple[str, int]
    zone: str
    timeout: float  # per question and per admin request
    concurrency: int
    max_names: int
    pinned: bool  # ask pinned names too (istiocoredns had none)


@dataclass(frozen=True)
class Result:
    options: Options
    listing: Listing
    theirs_identity: str  # what theirs' reserved name says; "" when it is no globaldns
    questions: int
    differences: tuple[Difference, ...]

    @property
    def unexplained(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if not d.explained)


async def run(options: Options) -> Result:
    """Compare every name our globaldns holds or skips, as both servers answer it."""
    listing = await read_listing(options.admin, options.max_names, options.pinned, options.timeout)
    identity = await identify(options.theirs, options.zone, options.timeout)
    known = _known(listing, options.zone)
    gate = asyncio.Semaphore(options.concurrency)

    async def one(name: str) -> list[Difference]:
        async with gate:
            found = []
            for qtype in TYPES:
                theirs, ours = await asyncio.gather(
                    question(options.theirs, name, qtype, options.timeout),
                    question(options.ours, name, qtype, options.timeout),
                )
                difference = compare(name, qtype, theirs, ours, known[name], bool(identity))
                if difference is not None:
                    found.append(difference)
            return found

    names = sorted(known)
    found = await asyncio.gather(*(one(name) for name in names))
    differences = tuple(d for per_name in found for d in per_name)
    return Result(options, listing, identity, len(names) * len(TYPES), differences)


def _known(listing: Listing, zone: str) -> dict[str, Known]:
    """Every name to ask, with what our table says of it: the names it holds (a wildcard
    `*.shard.global.` also by one name below it, `SAMPLE_LABEL.shard.global.`, as clients ask),
    and the skipped ones in the zone that DNS can carry (a name over DNS's limits cannot be
    asked; one outside the zone is no name of either server's)."""
    known = {held.name: Known(held=held) for held in listing.held}
    for held in listing.held:
        if held.name.startswith("*."):
            known.setdefault(f"{SAMPLE_LABEL}{held.name[1:]}", Known(held=held))
    suffix = f".{zone.strip('.').lower()}."
    for skipped in listing.skipped:
        if fits(skipped.name) and skipped.name.endswith(suffix):
            known[skipped.name] = Known(known.get(skipped.name, Known()).held, skipped)
    return known
