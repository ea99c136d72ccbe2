"""Answers compiled to wire bytes when the table changes, so a query costs a lookup and a join.

The one place that turns what a name resolves to (groups of addresses, ports, a tier) into
answer nodes: A/AAAA/SRV/NODATA, the SRV owner names, the SOA, the reserved wiring name and the
CHAOS identity answers. The zone only holds the nodes; the table only decides which names to
recompile. Records and their rotations are packed in records.py, the answers are answer.py's.

Every record's owner is a compression pointer into the question the client sent: the question is
echoed verbatim (DNS 0x20 case included), so its label lengths, and therefore every pointer, are
known when the name is compiled.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from dnslib import NS, SOA

from globaldns.dns.answer import NO_RECORDS, Answer, Run, Sections
from globaldns.dns.records import (
    AddressData,
    Held,
    address_data,
    address_runs,
    joined,
    pack_rdata,
    record,
    srv_rdata,
    turning,
)
from globaldns.dns.wire import (
    CLASS_CH,
    HEADER_LEN,
    NXDOMAIN,
    SERVFAIL,
    TYPE_A,
    TYPE_AAAA,
    TYPE_ANY,
    TYPE_NS,
    TYPE_SOA,
    TYPE_SRV,
    TYPE_TXT,
    name_to_wire,
    wire_to_name,
)
from globaldns.dns.zone_config import ZoneConfig

# RFC 1982: serial arithmetic is modulo 2^32, and one serial follows another when it is ahead
# by less than 2^31.
SERIAL_MODULUS = 1 << 32
SERIAL_HALF = 1 << 31
# An SOA's serial, refresh, retry, expire and minimum, after its two names.
_SOA_TIMES = struct.Struct("!IIIII")


def serial_after(serial: int, changed: float) -> int:
    """The serial of a zone changed at `changed` (seconds since the epoch) whose last serial
    was `serial`: that second when it is ahead of `serial` in RFC 1982 terms, else `serial`
    plus one. So it always increases, and replicas that took the same change from one source
    (the same file mtime) write the same number."""
    stamp = int(changed) % SERIAL_MODULUS
    if 0 < (stamp - serial) % SERIAL_MODULUS < SERIAL_HALF:
        return stamp
    return (serial + 1) % SERIAL_MODULUS


def soa_fields(config: ZoneConfig, serial: int) -> tuple[str, str, tuple[int, int, int, int, int]]:
    """The zone's SOA: mname, rname, and serial, refresh, retry, expire, minimum.

    Refresh, retry and expire are unused (no secondaries); minimum is the negative-caching TTL.
    """
    return (
        f"{config.nameserver}.",
        f"{config.hostmaster}.{config.zone}.",
        (serial, 3600, 600, 86400, config.ttl),
    )


def srv_names(name: str, ports: Iterable[Port]) -> list[tuple[str, Port]]:
    """The SRV owners of a name (relative to the zone), one per named port: `_http._tcp.foo`."""
    return [(f"_{p.name}._{p.protocol.lower()}.{name}", p) for p in ports if p.name]


@dataclass(frozen=True, slots=True)
class Port:
    """A named port of a name: an SRV record `_name._protocol.name` (unnamed: no SRV)."""

    name: str
    port: int
    protocol: str = "TCP"


class Tier(IntEnum):
    """What an answer counts as on the wire: the answers-by-tier metric's label, and its
    counter's index. The table's policy has tiers of its own (`table.policy.PolicyTier`) and
    says which of these a name's answers count as.

    Stored as a plain int in each `Answer`, so counting costs the same as before.
    """

    LOCAL = 0
    REMOTE = 1
    FAILOPEN = 2
    PINNED = 3
    ENTRY = 4
    APEX = 5
    EMPTY = 6
    NXDOMAIN = 7
    SERVFAIL = 8  # not in the table while a cluster is still trying its first sync
    IDENTITY = 9  # CH TXT id.server, hostname.bind, version.bind, version.server

    @property
    def label(self) -> str:
        return self.name.lower()


# Key of the answer given for every type a name does not have.
NODATA = -1
# What ANY returns: like NSD, a single RRset, the first of these the name has (RFC 8482).
ANY_PREFERENCE = (TYPE_SOA, TYPE_A, TYPE_AAAA, TYPE_SRV, TYPE_NS)

Node = dict[int, Answer]


class Compiler:
    """Builds the nodes of one zone; shares NODATA and NXDOMAIN answers between names.

    A NODATA or NXDOMAIN answer differs between names only in where the SOA owner points (the
    zone's labels in the question), so one per question length and tier is enough.
    """

    def __init__(self, config: ZoneConfig, serial: int) -> None:
        self.config = config
        self.wire = name_to_wire(config.zone)
        # The SOA's names, packed once: a serial moves on every commit that changed an answer.
        mname, rname, values = soa_fields(config, 0)
        self._soa_names = pack_rdata(SOA(mname, rname, values))[: -_SOA_TIMES.size]
        self._soa = b""  # the SOA record after its owner pointer, for the current serial
        # A negative answer's counts, and its sections per zone offset under the current serial
        # (shared by every NXDOMAIN and NODATA of that offset)
        self._negative_counts = Sections.packed(NO_RECORDS, Run(b"", 1))
        self._negatives: dict[int, Sections] = {}
        ns = pack_rdata(NS(f"{config.nameserver}."))
        self._ns = Answer(Sections.build([record(HEADER_LEN, TYPE_NS, config.ttl, ns)]), Tier.APEX)
        self._nodata: dict[tuple[int, Tier], Answer] = {}
        self._nxdomain: dict[int, Answer] = {}
        self._servfail: Answer | None = None
        # Held between compiles: a name every cluster runs is compiled again on each flip of
        # any one of them, with the same owners and SRV records every time.
        # Owners for the names compiled (the zone's keys, the very same bytes): not for every
        # name asked about, such as the 200,000 pinned names a commit looks up.
        self._owners: Held[str, bytes] = Held(self.owner)
        # (port, target) -> the SRV record
        self._srv: Held[tuple[int, bytes], bytes] = Held(self._srv_record)
        self.set_serial(serial)

    def set_serial(self, serial: int) -> None:
        """A new SOA serial: the shared negative answers (every name's NODATA among them) are
        rebuilt in place, so no name is recompiled; the apex node must be rebuilt."""
        rdata = self._soa_names + _SOA_TIMES.pack(*soa_fields(self.config, serial)[2])
        self._soa = record(0, TYPE_SOA, self.config.ttl, rdata)[2:]
        self._negatives = {}
        for offset, answer in self._nxdomain.items():
            answer.sections = self._negative(offset)
        for (offset, _), answer in self._nodata.items():
            answer.sections = self._negative(offset)

    def _negative(self, zone_offset: int) -> Sections:
        """NXDOMAIN's or NODATA's sections: the SOA, its owner pointing at the zone's labels.

        Built once per offset and serial: a serial moves on every commit that changed an
        answer, and a zone holds NODATA answers for as many name lengths and tiers as it has.
        """
        sections = self._negatives.get(zone_offset)
        if sections is None:
            counts = self._negative_counts
            sections = Sections(counts.head, counts.edns_head, self.soa_record(zone_offset), None)
            self._negatives[zone_offset] = sections
        return sections

    def soa_record(self, owner_offset: int) -> bytes:
        return (0xC000 | owner_offset).to_bytes(2, "big") + self._soa

    def nxdomain(self, zone_offset: int) -> Answer:
        """NXDOMAIN with the SOA owner pointing at the zone's labels in the question."""
        answer = self._nxdomain.get(zone_offset)
        if answer is None:
            answer = Answer(self._negative(zone_offset), Tier.NXDOMAIN, NXDOMAIN)
            self._nxdomain[zone_offset] = answer
        return answer

    def servfail(self) -> Answer:
        """SERVFAIL for a name nobody holds while the table is incomplete.

        No records and AA clear, as NSD answers for a zone it cannot serve and CoreDNS writes
        an error reply (rcode set, not authoritative); RD is copied and an OPT echoed as for
        any reply. Resolvers then try another server or retry, and cache nothing for long.
        """
        if self._servfail is None:
            self._servfail = Answer(Sections.build(), Tier.SERVFAIL, SERVFAIL, False)
        return self._servfail

    def nodata(self, owner: bytes, tier: Tier) -> Answer:
        """NODATA: shared by every name of the same length and tier (the SOA pointer differs)."""
        key = (HEADER_LEN + len(owner) - len(self.wire), tier)
        answer = self._nodata.get(key)
        if answer is None:
            answer = self._nodata[key] = Answer(self._negative(key[0]), tier)
        return answer

    def apex_node(self) -> Node:
        node: Node = {
            TYPE_SOA: Answer(Sections.build([self.soa_record(HEADER_LEN)]), Tier.APEX),
            TYPE_NS: self._ns,
            NODATA: self.nodata(self.wire, Tier.APEX),
        }
        return _with_any(node)

    def wiring_node(self, owner: bytes) -> Node:
        """The reserved name's TXT answer (`wiring_text`): the wiring check asks for it through
        the cluster's DNS and recognises this replica set by it."""
        text = wiring_text(self.config.zone, self.config.cluster_id).encode()
        rr = record(HEADER_LEN, TYPE_TXT, self.config.ttl, bytes((len(text),)) + text)
        node: Node = {
            TYPE_TXT: Answer(Sections.build([rr]), Tier.APEX),
            NODATA: self.nodata(owner, Tier.APEX),
        }
        return _with_any(node)

    def empty_node(self, owner: bytes) -> Node:
        """An empty non-terminal: NODATA for every type."""
        return _with_any({NODATA: self.nodata(owner, Tier.EMPTY)})

    def name_nodes(
        self, name: str, groups: Sequence[Sequence[str]], ports: Iterable[Port], tier: Tier
    ) -> dict[bytes, Node]:
        """Every node a name (relative to the zone) puts: its addresses, and an SRV per port."""
        owner = self._owners[name]
        data = address_data(groups)
        nodes = {owner: self.address_node(owner, data, tier)}
        nodes.update(self.srv_nodes(owner, self.srv_owners(name, ports), data, tier))
        return nodes

    def owner(self, name: str) -> bytes:
        """The wire owner of a name relative to the zone."""
        return name_to_wire(f"{name}.{self.config.zone}")

    def srv_owners(self, name: str, ports: Iterable[Port]) -> list[tuple[bytes, Port]]:
        """The wire owners of a name's SRV records, one per named port, with the port."""
        return [(self._owners[n], port) for n, port in srv_names(name, ports)]

    def _srv_record(self, port_target: tuple[int, bytes]) -> bytes:
        """The SRV record of a port on a target (wire form), owned by the question."""
        port, target = port_target
        return record(HEADER_LEN, TYPE_SRV, self.config.ttl, srv_rdata(port, wire_to_name(target)))

    def address_node(self, owner: bytes, data: AddressData, tier: Tier) -> Node:
        """A and AAAA answers for groups of addresses (`address_data`) in order of preference."""
        node: Node = {NODATA: self.nodata(owner, tier)}
        for rtype, runs in address_runs(data, HEADER_LEN, self.config.ttl).items():
            order, turns = turning(runs, self.config.max_answers)
            node[rtype] = Answer(Sections.packed(order), tier, turns=turns)
        return _with_any(node)

    def srv_nodes(
        self, target: bytes, owners: Iterable[tuple[bytes, Port]], data: AddressData, tier: Tier
    ) -> dict[bytes, Node]:
        """An SRV answer per owner, for its port on `target`, with the target's addresses as
        additional data.

        That data is packed once per offset of the target in the question, shared by owners
        of one length (`_http._tcp` and `_grpc._tcp`): a name answering 200 gateways packs
        3 KB of it, again on every flip of one.
        """
        ttl, limit = self.config.ttl, self.config.max_answers
        additional: dict[int, list[Run]] = {}
        nodes: dict[bytes, Node] = {}
        for owner, port in owners:
            offset = HEADER_LEN + len(owner) - len(target)
            rrsets = additional.get(offset)
            if rrsets is None:
                runs = sorted(address_runs(data, offset, ttl).items())
                rrsets = additional[offset] = [joined(rrset, limit) for _, rrset in runs]
            srv = Run(self._srv[(port.port, target)], 1)
            node: Node = {
                NODATA: self.nodata(owner, tier),
                TYPE_SRV: Answer(Sections.packed(srv, additional=rrsets), tier),
            }
            nodes[owner] = _with_any(node)
        return nodes


# The reserved name under the zone (no Kubernetes name starts with `_`, so no service has it).
WIRING_LABEL = "_globaldns-wiring"


def wiring_text(zone: str, cluster_id: str) -> str:
    """What the reserved name's TXT record says: the zone and the cluster that serves it."""
    return f"globaldns zone={zone.rstrip('.').lower()} cluster={cluster_id}"[:255]


# The CHAOS names that say which server answered and what it runs, as NSD answers them.
IDENTITY_NAMES = ("id.server", "hostname.bind")
VERSION_NAMES = ("version.bind", "version.server")


def chaos_nodes(identity: str | None, version: str | None) -> dict[bytes, Node]:
    """CH TXT answers (TTL 0, AA clear, as NSD): the identity and the version, each unless
    hidden (None); any type but TXT and ANY, and any other CH name, is REFUSED."""
    nodes: dict[bytes, Node] = {}
    for names, text in ((IDENTITY_NAMES, identity), (VERSION_NAMES, version)):
        if text is None:
            continue
        raw = text.encode("ascii")
        txt = record(HEADER_LEN, TYPE_TXT, 0, bytes((len(raw),)) + raw, CLASS_CH)
        answer = Answer(Sections.build([txt]), Tier.IDENTITY, authoritative=False)
        for name in names:
            nodes[name_to_wire(name)] = {TYPE_TXT: answer, TYPE_ANY: answer}
    return nodes


def _with_any(node: Node) -> Node:
    for rtype in ANY_PREFERENCE:
        if rtype in node:
            node[TYPE_ANY] = node[rtype]
            break
    return node
