"""Resource records packed to wire bytes, and the round-robin turns of their groups.

Every owner is a compression pointer into the question the client sent (see compile.py), so a
record is known by the offset of its owner there. Record data is packed with dnslib.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import TypeVar

from dnslib import AAAA, NS, SOA, SRV, A, DNSBuffer

from globaldns.dns.answer import Run, Turns
from globaldns.dns.wire import CLASS_IN, TYPE_A, TYPE_AAAA

_K = TypeVar("_K")
_V = TypeVar("_V")

# Orders an answer's records take in turn: enough for every record of a typical group to lead;
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


class Held(dict[_K, _V]):
    """key -> its value, made by `make` on first use and held up to `_HELD` entries (then
    forgotten all at once). A dict's lookup, not `functools.lru_cache`'s: a name answering 200
    gateways is compiled again on every flip of one, and a dict finds what it holds in a third
    of the time."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[_K], _V]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: _K) -> _V:
        if len(self) >= _HELD:
            self.clear()
        value = self[key] = self._make(key)
        return value


_HELD = 1 << 16


def _packed(address: str) -> tuple[int, bytes]:
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return TYPE_A, pack_rdata(A(str(ip)))
    return TYPE_AAAA, pack_rdata(AAAA(str(ip)))


_PACKED: Held[str, tuple[int, bytes]] = Held(_packed)
# IPv4 address -> its packed data, for groups known to hold no other kind: one lookup per
# address, no record type to read back.
_PACKED_IPV4: Held[str, bytes] = Held(lambda address: _PACKED[address][1])


def address_rdata(address: str) -> tuple[int, bytes]:
    """The record type and packed data for one IPv4 or IPv6 address."""
    return _PACKED[address]


@functools.lru_cache(maxsize=1 << 16)
def srv_rdata(port: int, target: str) -> bytes:
    return pack_rdata(SRV(priority=0, weight=100, port=port, target=target))


def turning(runs: Sequence[Run], limit: int | None = None) -> tuple[Run, Turns | None]:
    """An answer section of runs of records (each a group of one record type, so of one record
    size) as it leads, cut to `limit` records, and how its records take turns: each group
    rotates within itself, groups keep their order (None: one order only, every group holding
    one record)."""
    steps = min(max((run.count for run in runs), default=0), MAX_ROTATIONS)
    if steps < 2:
        return joined(runs, limit), None
    kept, _ = _kept(runs, limit)
    turns = Turns(runs, _record_size(runs), kept, steps)
    return Run(turns.records[: kept * turns.size], kept), turns


def joined(runs: Sequence[Run], limit: int | None = None) -> Run:
    """The runs one after another, cut to `limit` records: the order before any rotation."""
    kept, _ = _kept(runs, limit)
    return Run(b"".join(run.records for run in runs)[: kept * _record_size(runs)], kept)


def _kept(runs: Sequence[Run], limit: int | None) -> tuple[int, int]:
    """How many records an answer of these runs keeps under `limit`, and how many they hold."""
    total = sum(run.count for run in runs)
    return (min(total, limit) if limit else total), total


def _record_size(runs: Sequence[Run]) -> int:
    return len(runs[0].records) // runs[0].count if runs else 0


# Record type -> groups of packed addresses (record data), in group order.
AddressData = dict[int, list[list[bytes]]]


_TYPE, _DATA = itemgetter(0), itemgetter(1)  # of what `address_rdata` returns


def address_data(groups: Iterable[Sequence[str]]) -> AddressData:
    """Split address groups into A and AAAA groups of record data, keeping order and
    membership: packed once per name, for its answer and for each SRV's additional data.

    A group of one family (nearly all: gateways of 200 clusters, on each flip of one) is
    packed without a step per address in Python; one of IPv4 addresses only (no colon: every
    IPv6 address has one) in a single pass.
    """
    by_type: AddressData = {TYPE_A: [], TYPE_AAAA: []}
    for group in groups:
        if not group:
            continue
        if ":" not in "".join(group):
            by_type[TYPE_A].append(list(map(_PACKED_IPV4.__getitem__, group)))
            continue
        packed = list(map(_PACKED.__getitem__, group))
        rtypes = set(map(_TYPE, packed))
        if len(rtypes) == 1:
            by_type[rtypes.pop()].append(list(map(_DATA, packed)))
            continue
        for rtype in (TYPE_A, TYPE_AAAA):
            kept = [rdata for t, rdata in packed if t == rtype]
            if kept:
                by_type[rtype].append(kept)
    return {rtype: groups for rtype, groups in by_type.items() if groups}


def address_runs(data: AddressData, owner_offset: int, ttl: int) -> dict[int, list[Run]]:
    """The records of each group as one run: every record of one type differs only in its
    address, so a run is their head joined with the packed addresses."""
    runs: dict[int, list[Run]] = {}
    for rtype, groups in data.items():
        head = record(owner_offset, rtype, ttl, groups[0][0])[: -len(groups[0][0])]
        runs[rtype] = [Run(head + head.join(packed), len(packed)) for packed in groups]
    return runs
