"""A compiled answer: the reply bytes after the question, for each rotation of its records.

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
    them, so its records are packed once into a run and every rotation is cut from it.
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
    builds sixteen on each flip).

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
    def rotated(cls, orders: Sequence[Run]) -> list[Sections]:
        """One answer section per order of the same records: they share their counts."""
        first = cls.packed(orders[0])
        head, edns_head = first.head, first.edns_head
        return [first, *(cls(head, edns_head, order.records, None) for order in orders[1:])]

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


class Answer:
    """The precompiled replies to one (name, type): one `Sections` per rotation.

    `turn` advances per query so records rotate, kept below the number of rotations (the
    compiled UDP loop advances it too, reading these slots by name); `flags` holds the reply's
    second and third header bytes for a query without and with RD (AA unless `authoritative`
    is False; CD not echoed, as NSD).
    """

    __slots__ = ("flags", "rcode", "tier", "turn", "variants")

    def __init__(
        self,
        variants: Sequence[Sections],
        tier: int,
        rcode: int = NOERROR,
        authoritative: bool = True,
    ) -> None:
        self.variants = tuple(variants)
        self.tier = int(tier)
        self.rcode = rcode
        first = QR | (AA if authoritative else 0)
        self.flags = (bytes((first, rcode)), bytes((first | RD, rcode)))
        self.turn = 0
