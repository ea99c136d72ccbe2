"""Resource records packed to wire bytes, and the round-robin orders of their groups.

Every owner is a compression pointer into the question the client sent (see compile.py), so a
record is known by the offset of its owner there. Record data is packed with dnslib.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

from dnslib import AAAA, NS, SOA, SRV, A, DNSBuffer

from globaldns.dns.wire import CLASS_IN, TYPE_A, TYPE_AAAA

# Rotations precompiled per answer: enough for every record of a typical group to lead in turn;
# larger groups step through evenly spaced starting points.
MAX_ROTATIONS = 16


def pack_rdata(rdata: A | AAAA | SRV | SOA | NS) -> bytes:
    """Record data in wire form, packed by dnslib.

    An SOA's names are written out: dnslib would point RNAME at a suffix it shares with MNAME
    (`clusterset.local` and `...svc.cluster.local`) by its offset in this buffer, which is
    not its offset in the message.
    """
    buf = DNSBuffer()
    if isinstance(rdata, SOA):
        buf.encode_name_nocompress(rdata.mname)
        buf.encode_name_nocompress(rdata.rname)
        buf.pack("!IIIII", *rdata.times)
    else:
        rdata.pack(buf)
    return bytes(buf.data)


def record(owner_offset: int, rtype: int, ttl: int, rdata: bytes, rclass: int = CLASS_IN) -> bytes:
    """One resource record whose owner points at `owner_offset` in the message."""
    return (
        (0xC000 | owner_offset).to_bytes(2, "big")
        + rtype.to_bytes(2, "big")
        + rclass.to_bytes(2, "big")
        + ttl.to_bytes(4, "big")
        + len(rdata).to_bytes(2, "big")
        + rdata
    )


@functools.lru_cache(maxsize=1 << 16)
def address_rdata(address: str) -> tuple[int, bytes]:
    """The record type and packed data for one IPv4 or IPv6 address."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return TYPE_A, pack_rdata(A(str(ip)))
    return TYPE_AAAA, pack_rdata(AAAA(str(ip)))


@functools.lru_cache(maxsize=1 << 16)
def address_record(owner_offset: int, ttl: int, address: str) -> tuple[int, bytes]:
    """One address's record: names of one length share it, so a name holding every remote
    cluster's gateways (recompiled whenever one of them changes) packs none of them again."""
    rtype, rdata = address_rdata(address)
    return rtype, record(owner_offset, rtype, ttl, rdata)


@functools.lru_cache(maxsize=1 << 16)
def srv_rdata(port: int, target: str) -> bytes:
    return pack_rdata(SRV(priority=0, weight=100, port=port, target=target))


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
            rtype, rr = address_record(owner_offset, ttl, address)
            split[rtype].append(rr)
        for rtype, records in split.items():
            if records:
                by_type[rtype].append(records)
    return {rtype: groups for rtype, groups in by_type.items() if groups}
