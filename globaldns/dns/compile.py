"""Answers compiled to wire bytes when the table changes, so a query costs a lookup and a join.

Every record's owner is a compression pointer into the question the client sent: the question is
echoed verbatim (DNS 0x20 case included), so its label lengths, and therefore every pointer, are
known when the name is compiled. Record data is packed with dnslib.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dnslib import AAAA, NS, SOA, SRV, A, DNSBuffer

from globaldns.dns.wire import NOERROR, TYPE_A, TYPE_AAAA

# Rotations precompiled per answer: enough for every record of a typical group to lead in turn;
# larger groups step through evenly spaced starting points.
MAX_ROTATIONS = 16


def _rdata(rdata: A | AAAA | SRV | SOA | NS) -> bytes:
    buf = DNSBuffer()
    rdata.pack(buf)
    return bytes(buf.data)


def record(owner_offset: int, rtype: int, ttl: int, rdata: bytes) -> bytes:
    """One resource record, class IN, whose owner points at `owner_offset` in the message."""
    return (
        (0xC000 | owner_offset).to_bytes(2, "big")
        + rtype.to_bytes(2, "big")
        + b"\x00\x01"
        + ttl.to_bytes(4, "big")
        + len(rdata).to_bytes(2, "big")
        + rdata
    )


@functools.lru_cache(maxsize=1 << 16)
def address_rdata(address: str) -> tuple[int, bytes]:
    """The record type and packed data for one IPv4 or IPv6 address."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return TYPE_A, _rdata(A(str(ip)))
    return TYPE_AAAA, _rdata(AAAA(str(ip)))


@functools.lru_cache(maxsize=1 << 16)
def srv_rdata(port: int, target: str) -> bytes:
    return _rdata(SRV(priority=0, weight=100, port=port, target=target))


def soa_rdata(mname: str, rname: str, serial: int, ttl: int) -> bytes:
    # refresh, retry, expire are unused (no secondaries); minimum is the negative-caching TTL.
    return _rdata(SOA(mname, rname, (serial, 3600, 600, 86400, ttl)))


def ns_rdata(nsname: str) -> bytes:
    return _rdata(NS(nsname))


# Where an answer came from, for the answers-by-tier metric (indexes into a list of counters).
TIERS = ("local", "remote", "failopen", "pinned", "entry", "apex", "empty", "nxdomain")


@dataclass(frozen=True, slots=True)
class Sections:
    """One reply's counts and sections after the question.

    `head` is QDCOUNT..ARCOUNT of the reply, `edns_head` the same with the OPT record counted;
    `without_additional` is the fallback when the additional section does not fit.
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
        additional: Sequence[bytes] = (),
    ) -> Sections:
        fallback = cls.build(answer, authority) if additional else None
        counts = b"\x00\x01" + len(answer).to_bytes(2, "big") + len(authority).to_bytes(2, "big")
        return cls(
            head=counts + len(additional).to_bytes(2, "big"),
            edns_head=counts + (len(additional) + 1).to_bytes(2, "big"),
            body=b"".join((*answer, *authority, *additional)),
            without_additional=fallback,
        )


class Answer:
    """The precompiled replies to one (name, type): one `Sections` per rotation.

    `turn` advances per query so records rotate; `flags` holds the reply's second and third
    header bytes for a query without and with RD (authoritative; CD not echoed, as NSD).
    """

    __slots__ = ("flags", "rcode", "tier", "turn", "variants")

    def __init__(self, variants: Sequence[Sections], tier: str, rcode: int = NOERROR) -> None:
        self.variants = tuple(variants)
        self.tier = TIERS.index(tier)
        self.rcode = rcode
        self.flags = (bytes((0x84, rcode)), bytes((0x85, rcode)))
        self.turn = 0


def rotations(groups: Sequence[Sequence[bytes]], limit: int | None = None) -> list[list[bytes]]:
    """Round-robin orders of records: each group rotates within itself, groups keep their order.

    `limit` caps the records in one answer, taken from the head of each rotation.
    """
    longest = max((len(group) for group in groups), default=0)
    count = min(longest, MAX_ROTATIONS) or 1
    orders: list[list[bytes]] = []
    for step in range(count):
        order: list[bytes] = []
        for group in groups:
            if group:
                shift = (step * len(group) // count) % len(group)
                order.extend(group[shift:])
                order.extend(group[:shift])
        orders.append(order[:limit] if limit else order)
    return orders


def address_groups(
    groups: Iterable[Sequence[str]], owner_offset: int, ttl: int
) -> dict[int, list[list[bytes]]]:
    """Split address groups into A and AAAA record groups, keeping group order and membership."""
    by_type: dict[int, list[list[bytes]]] = {TYPE_A: [], TYPE_AAAA: []}
    for group in groups:
        split: dict[int, list[bytes]] = {TYPE_A: [], TYPE_AAAA: []}
        for address in group:
            rtype, rdata = address_rdata(address)
            split[rtype].append(record(owner_offset, rtype, ttl, rdata))
        for rtype, records in split.items():
            if records:
                by_type[rtype].append(records)
    return {rtype: groups for rtype, groups in by_type.items() if groups}
