"""Answers compiled to wire bytes when the table changes, so a query costs a lookup and a join.

Every record's owner is a compression pointer into the question the client sent: the question is
echoed verbatim (DNS 0x20 case included), so its label lengths, and therefore every pointer, are
known when the name is compiled. Record data is packed with dnslib.
"""

from __future__ import annotations

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


def address_rdata(address: str) -> tuple[int, bytes]:
    """The record type and packed data for one IPv4 or IPv6 address."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return TYPE_A, _rdata(A(str(ip)))
    return TYPE_AAAA, _rdata(AAAA(str(ip)))


def srv_rdata(port: int, target: str) -> bytes:
    return _rdata(SRV(priority=0, weight=100, port=port, target=target))


def soa_rdata(mname: str, rname: str, serial: int, ttl: int) -> bytes:
    # refresh, retry, expire are unused (no secondaries); minimum is the negative-caching TTL.
    return _rdata(SOA(mname, rname, (serial, 3600, 600, 86400, ttl)))


def ns_rdata(nsname: str) -> bytes:
    return _rdata(NS(nsname))


@dataclass(frozen=True, slots=True)
class Sections:
    """One reply's answer, authority and additional sections after the question.

    `counts` holds ANCOUNT, NSCOUNT and ARCOUNT; `edns_counts` the same with the OPT record
    added. `without_additional` is the fallback when the additional section does not fit.
    """

    counts: bytes
    edns_counts: bytes
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
        an, ns, ar = len(answer), len(authority), len(additional)
        return cls(
            counts=an.to_bytes(2, "big") + ns.to_bytes(2, "big") + ar.to_bytes(2, "big"),
            edns_counts=an.to_bytes(2, "big") + ns.to_bytes(2, "big") + (ar + 1).to_bytes(2, "big"),
            body=b"".join((*answer, *authority, *additional)),
            without_additional=fallback,
        )


class Answer:
    """The precompiled replies to one (name, type): one `Sections` per rotation.

    `turn` advances per query so records rotate; `tier` names where the answer came from, for
    the answers-by-tier metric.
    """

    __slots__ = ("rcode", "tier", "turn", "variants")

    def __init__(self, variants: Sequence[Sections], tier: str, rcode: int = NOERROR) -> None:
        self.variants = tuple(variants)
        self.tier = tier
        self.rcode = rcode
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
