"""The compiled zone: lower-cased wire names mapped to their precompiled answers per type.

The table writes it (`put`, `remove`), the responder only reads it. Names that exist only as
ancestors of others (empty non-terminals, RFC 8020) are reference-counted here so that they
answer NODATA exactly while a descendant exists.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from globaldns.dns.compile import (
    Answer,
    Sections,
    address_groups,
    ns_rdata,
    record,
    rotations,
    soa_rdata,
    srv_rdata,
)
from globaldns.dns.wire import (
    HEADER_LEN,
    NXDOMAIN,
    TYPE_A,
    TYPE_AAAA,
    TYPE_ANY,
    TYPE_NS,
    TYPE_SOA,
    TYPE_SRV,
    name_to_wire,
    wire_to_name,
)

if TYPE_CHECKING:
    from globaldns.dns.responder import Recent

# Key of the answer given for every type a name does not have.
NODATA = -1
# What ANY returns: like NSD, a single RRset, the first of these the name has (RFC 8482).
ANY_PREFERENCE = (TYPE_SOA, TYPE_A, TYPE_AAAA, TYPE_SRV, TYPE_NS)

Node = dict[int, Answer]


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    zone: str = "global"
    ttl: int = 5
    nameserver: str = "globaldns.globaldns.svc.cluster.local"
    hostmaster: str = "hostmaster"
    max_answers: int | None = None


class Zone:
    """Names of one zone and their answers; `names` is what the responder looks up."""

    def __init__(self, config: ZoneConfig) -> None:
        self.config = config
        self.wire = name_to_wire(config.zone)
        self.serial = int(time.time()) & 0xFFFFFFFF
        self.names: dict[bytes, Node] = {}
        self._nxdomain: dict[int, Answer] = {}
        # The responder's memo of recent UDP questions; any change to the names empties it.
        self.recent: dict[bytes, Recent] = {}
        self._nodata: dict[tuple[int, str], Answer] = {}
        self._ancestors: dict[bytes, int] = {}
        self._own: set[bytes] = set()
        self._soa = soa_rdata(
            f"{config.nameserver}.", f"{config.hostmaster}.{config.zone}.", self.serial, config.ttl
        )
        self.names[self.wire] = self._apex_node()

    # -- answers -------------------------------------------------------------------------
    def soa_record(self, owner_offset: int) -> bytes:
        return record(owner_offset, TYPE_SOA, self.config.ttl, self._soa)

    def _zone_offset(self, owner: bytes) -> int:
        """Where the zone's labels start inside a question for `owner`."""
        return HEADER_LEN + len(owner) - len(self.wire)

    def nxdomain(self, zone_offset: int) -> Answer:
        """NXDOMAIN with the SOA owner pointing at the zone's labels in the question."""
        answer = self._nxdomain.get(zone_offset)
        if answer is None:
            soa = self.soa_record(zone_offset)
            answer = Answer([Sections.build(authority=[soa])], "nxdomain", NXDOMAIN)
            self._nxdomain[zone_offset] = answer
        return answer

    def nodata(self, owner: bytes, tier: str) -> Answer:
        """NODATA: shared by every name of the same length and tier (the SOA pointer differs)."""
        key = (self._zone_offset(owner), tier)
        answer = self._nodata.get(key)
        if answer is None:
            soa = self.soa_record(key[0])
            answer = self._nodata[key] = Answer([Sections.build(authority=[soa])], tier)
        return answer

    def _apex_node(self) -> Node:
        ttl = self.config.ttl
        ns = record(HEADER_LEN, TYPE_NS, ttl, ns_rdata(f"{self.config.nameserver}."))
        node: Node = {
            TYPE_SOA: Answer([Sections.build([self.soa_record(HEADER_LEN)])], "apex"),
            TYPE_NS: Answer([Sections.build([ns])], "apex"),
            NODATA: self.nodata(self.wire, "apex"),
        }
        return _with_any(node)

    def address_node(self, owner: bytes, groups: Sequence[Sequence[str]], tier: str) -> Node:
        """A and AAAA answers for `groups` of addresses in order of preference."""
        node: Node = {NODATA: self.nodata(owner, tier)}
        for rtype, record_groups in address_groups(groups, HEADER_LEN, self.config.ttl).items():
            node[rtype] = Answer(
                [
                    Sections.build(order)
                    for order in rotations(record_groups, self.config.max_answers)
                ],
                tier,
            )
        return _with_any(node)

    def srv_node(
        self,
        owner: bytes,
        target: bytes,
        port: int,
        groups: Sequence[Sequence[str]],
        tier: str,
    ) -> Node:
        """An SRV answer for `target`'s port, with the target's addresses as additional data."""
        ttl = self.config.ttl
        target_offset = HEADER_LEN + len(owner) - len(target)
        srv = record(HEADER_LEN, TYPE_SRV, ttl, srv_rdata(port, wire_to_name(target)))
        additional = [
            rr
            for _, record_groups in sorted(address_groups(groups, target_offset, ttl).items())
            for rr in [rr for group in record_groups for rr in group][: self.config.max_answers]
        ]
        node: Node = {
            NODATA: self.nodata(owner, tier),
            TYPE_SRV: Answer([Sections.build([srv], additional=additional)], tier),
        }
        return _with_any(node)

    # -- membership ----------------------------------------------------------------------
    def put(self, owner: bytes, node: Node) -> None:
        """Add or replace a name (lower-cased wire form, below the apex)."""
        self.recent.clear()
        if owner not in self._own:
            self._own.add(owner)
            for ancestor in self._ancestors_of(owner):
                held = self._ancestors.get(ancestor, 0)
                self._ancestors[ancestor] = held + 1
                if not held and ancestor not in self._own:
                    self.names[ancestor] = self._empty_node(ancestor)
        self.names[owner] = node

    def remove(self, owner: bytes) -> None:
        if owner not in self._own:
            return
        self.recent.clear()
        self._own.discard(owner)
        for ancestor in self._ancestors_of(owner):
            held = self._ancestors[ancestor] - 1
            if held:
                self._ancestors[ancestor] = held
            else:
                del self._ancestors[ancestor]
                if ancestor not in self._own:
                    del self.names[ancestor]
        if owner in self._ancestors:
            self.names[owner] = self._empty_node(owner)
        else:
            del self.names[owner]

    def _empty_node(self, owner: bytes) -> Node:
        return _with_any({NODATA: self.nodata(owner, "empty")})

    def _ancestors_of(self, owner: bytes) -> list[bytes]:
        """Names strictly between `owner` and the apex: its empty non-terminals, if nothing else."""
        out: list[bytes] = []
        i = owner[0] + 1
        while len(owner) - i > len(self.wire):
            out.append(owner[i:])
            i += owner[i] + 1
        return out

    def contains(self, owner: bytes) -> bool:
        """Whether a lower-cased wire name is at or below the apex, on a label boundary."""
        return owner.endswith(self.wire) and _is_label_boundary(owner, len(owner) - len(self.wire))


def _with_any(node: Node) -> Node:
    for rtype in ANY_PREFERENCE:
        if rtype in node:
            node[TYPE_ANY] = node[rtype]
            break
    return node


def _is_label_boundary(owner: bytes, offset: int) -> bool:
    i = 0
    while i < offset:
        i += owner[i] + 1
    return i == offset
