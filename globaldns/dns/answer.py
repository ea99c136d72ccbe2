"""A compiled answer: the reply bytes after the question, and how its records take turns.

What the responder reads per query and the memo remembers (`memo.Recent`); `compile.py` builds
them. `tier` is a plain int (a `compile.Tier`), so counting it costs an index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from globaldns.dns.wire import AA, NOERROR, QR, RD


@dataclass(slots=True)
class Run:
    """Records packed back to back, and how many: a section, or one group of a section.

    A name answering every remote cluster's gateways is recompiled on each flip of any one of
    them, so its records are packed once into a run, and its answer and each SRV's additional
    data are cut from it.
    """

    records: bytes = b""
    count: int = 0

    @classmethod
    def of(cls, records: Sequence[bytes]) -> Run:
        return cls(b"".join(records), len(records))


NO_RECORDS = Run()


@dataclass(slots=True)
class Sections:
    """One reply's counts and sections after the question, never changed once built (not
    frozen: a frozen dataclass costs three times as much to build, and a 200-gateway name
    builds several on each flip).

    `head` is QDCOUNT..ARCOUNT of the reply, `edns_head` the same with the OPT record counted;
    `without_additional` is the fallback when the additional section does not fit: the same
    reply less its last additional RRset (RFC 2181 §9: whole RRsets only, as NSD cuts them).
    """

    head: bytes
    edns_head: bytes
    body: bytes
    without_additional: Sections | None

    @classmethod
    def build(
        cls,
        answer: Sequence[bytes] = (),
        authority: Sequence[bytes] = (),
        additional: Sequence[Sequence[bytes]] = (),
    ) -> Sections:
        """`additional` is a sequence of RRsets, most wanted first."""
        rrsets = [Run.of(rrset) for rrset in additional]
        return cls.packed(Run.of(answer), Run.of(authority), rrsets)

    @classmethod
    def packed(
        cls, answer: Run, authority: Run = NO_RECORDS, additional: Sequence[Run] = ()
    ) -> Sections:
        """The same from runs; `additional` holds one run per RRset, most wanted first."""
        fallback = cls.packed(answer, authority, additional[:-1]) if additional else None
        extra = sum(rrset.count for rrset in additional)
        counts = b"\x00\x01" + answer.count.to_bytes(2, "big") + authority.count.to_bytes(2, "big")
        return cls(
            head=counts + extra.to_bytes(2, "big"),
            edns_head=counts + (extra + 1).to_bytes(2, "big"),
            body=b"".join((answer.records, authority.records, *(r.records for r in additional))),
            without_additional=fallback,
        )


class Turns:
    """How a rotating answer's records take turns leading: each group (a run of records of one
    size) starts `steps` times at evenly spaced records, groups keep their order, and an answer
    holds the first `kept` records of each order.

    Orders are made per answer (`order`; the compiled UDP loop writes the same bytes), not
    compiled: a name answering 200 gateways is recompiled on every flip of one, and sixteen
    compiled orders of 3 KB each, most never asked for (such an answer does not fit 1,232
    bytes), were 18% of a flip's instructions.
    The compiled loop reads these slots by name.
    """

    __slots__ = ("counts", "kept", "records", "size", "steps")

    def __init__(self, runs: Sequence[Run], size: int, kept: int, steps: int) -> None:
        self.records = b"".join(run.records for run in runs)  # every group's, none cut
        self.counts = tuple(run.count for run in runs)  # records per group, each at least one
        self.size = size  # bytes per record
        self.kept = kept
        self.steps = steps  # orders before they repeat: 2 to MAX_ROTATIONS

    def order(self, step: int) -> bytes:
        """The answer section of order `step` (0 <= step < steps)."""
        records, size, steps = self.records, self.size, self.steps
        parts: list[bytes] = []
        at = 0
        for count in self.counts:
            end = at + count * size
            start = at + (step * count // steps) % count * size
            parts += (records[start:end], records[at:start])
            at = end
        return b"".join(parts)[: self.kept * size]


class Answer:
    """The precompiled reply to one (name, type): its `Sections`, and its `Turns` when its
    records rotate (then `sections.body` is order 0's answer section, the length of every
    order's).

    `turn` advances per query so records rotate, kept below `turns.steps` (the compiled UDP
    loop advances it too, reading these slots by name); `flags` holds the reply's second and
    third header bytes for a query without and with RD (AA unless `authoritative` is False;
    CD not echoed, as NSD).
    """

    __slots__ = ("flags", "rcode", "sections", "tier", "turn", "turns")

    def __init__(
        self,
        sections: Sections,
        tier: int,
        rcode: int = NOERROR,
        authoritative: bool = True,
        turns: Turns | None = None,
    ) -> None:
        self.sections = sections
        self.turns = turns
        self.tier = int(tier)
        self.rcode = rcode
        first = QR | (AA if authoritative else 0)
        self.flags = (bytes((first, rcode)), bytes((first | RD, rcode)))
        self.turn = 0
