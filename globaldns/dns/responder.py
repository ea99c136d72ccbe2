"""Answers one query packet from the compiled zone: bytes in, bytes (or nothing) out.

Sans-I/O, so the UDP and TCP servers and the tests share it. The common case, a well-formed
QUERY with at most an OPT record, costs a name scan, one dict lookup and one join; everything
else (errors, odd opcodes, BADVERS) takes the slow path, which mirrors what NSD answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from globaldns.dns.compile import Answer, Sections
from globaldns.dns.wire import (
    BADVERS,
    CLASS_IN,
    FORMERR,
    HEADER_LEN,
    NOTIMP,
    NXDOMAIN,
    OPCODE_NOTIFY,
    OPCODE_QUERY,
    OPT_RR_LEN,
    REFUSED,
    TYPE_AXFR,
    TYPE_IXFR,
    Edns,
    Malformed,
    opt_record,
    parse_opt,
    scan_name,
    udp_limit,
)
from globaldns.dns.zone import NODATA, Zone

TCP_MAX = 65535
TIERS = ("local", "remote", "failopen", "pinned", "entry", "apex", "empty", "nxdomain")
_TIER_INDEX = {tier: index for index, tier in enumerate(TIERS)}
_COUNTS_PLAIN = b"\x00\x01"  # QDCOUNT of every answer that echoes the question
_OPT = (opt_record(do=False), opt_record(do=True))
_TC = 0x02
# Header flags of an authoritative reply, by the query's RD bit (CD is not echoed, as NSD).
_AA_FLAGS = tuple(bytes((0x84 | rd, rcode)) for rd in (0, 1) for rcode in range(16))


def _aa_flags(rd: int, rcode: int) -> bytes:
    return _AA_FLAGS[rd * 16 + rcode]


@dataclass
class QueryCounters:
    """Plain integers counted per query; exported to Prometheus only when scraped."""

    by_type: list[int] = field(default_factory=lambda: [0] * 65536)
    by_rcode: list[int] = field(default_factory=lambda: [0] * 32)
    by_tier: list[int] = field(default_factory=lambda: [0] * len(TIERS))
    dropped: int = 0
    truncated: int = 0


class Responder:
    def __init__(self, zone: Zone, counters: QueryCounters | None = None) -> None:
        self.zone = zone
        self.counters = counters or QueryCounters()

    def respond(self, data: bytes, udp: bool) -> bytes | None:
        """The reply to `data`, or None when it must be dropped (a reply, or unreadable)."""
        if len(data) < HEADER_LEN or data[2] & 0x80:
            self.counters.dropped += 1
            return None
        # Fast path: QUERY, one question, no answer/authority, at most one additional (OPT).
        if data[2] & 0x78 or data[4:11] != b"\x00\x01\x00\x00\x00\x00\x00" or data[11] > 1:
            return self._slow(data, udp)
        try:
            qend, _ = scan_name(data, HEADER_LEN)
        except Malformed:
            return self._error(data, FORMERR)
        if len(data) < qend + 4 or data[qend + 2 : qend + 4] != b"\x00\x01":
            return self._slow(data, udp)
        edns: Edns | None = None
        if data[11]:
            try:
                edns = parse_opt(data, qend + 4)
            except Malformed:
                return self._error(data, FORMERR)
            if edns.version:
                return self._slow(data, udp)
        qtype = data[qend] << 8 | data[qend + 1]
        if qtype == TYPE_AXFR or qtype == TYPE_IXFR:
            return self._slow(data, udp)
        self.counters.by_type[qtype] += 1
        owner = data[HEADER_LEN:qend].lower()
        node = self.zone.names.get(owner)
        if node is None:
            return self._miss(data, owner, qend, edns, udp)
        answer = node.get(qtype) or node[NODATA]
        return self._reply(data, qend, answer, edns, udp)

    def _reply(
        self, data: bytes, qend: int, answer: Answer, edns: Edns | None, udp: bool
    ) -> bytes | None:
        variants = answer.variants
        if len(variants) == 1:
            sections = variants[0]
        else:
            sections = variants[answer.turn % len(variants)]
            answer.turn += 1
        counters = self.counters
        counters.by_rcode[answer.rcode] += 1
        counters.by_tier[_TIER_INDEX[answer.tier]] += 1
        question = data[HEADER_LEN : qend + 4]
        flags = _aa_flags(data[2] & 1, answer.rcode)
        limit = (udp_limit(edns) if udp else TCP_MAX) - HEADER_LEN - len(question)
        if edns is not None:
            limit -= OPT_RR_LEN
        if len(sections.body) > limit and sections.without_additional is not None:
            sections = sections.without_additional
        if len(sections.body) > limit:
            counters.truncated += 1
            return self._truncated(data, question, flags, edns)
        if edns is None:
            return b"".join(
                (data[:2], flags, _COUNTS_PLAIN, sections.counts, question, sections.body)
            )
        return b"".join(
            (
                data[:2],
                flags,
                _COUNTS_PLAIN,
                sections.edns_counts,
                question,
                sections.body,
                _OPT[edns.do],
            )
        )

    def _truncated(self, data: bytes, question: bytes, flags: bytes, edns: Edns | None) -> bytes:
        head = data[:2] + bytes((flags[0] | _TC, flags[1])) + _COUNTS_PLAIN
        if edns is None:
            return head + b"\x00\x00\x00\x00\x00\x00" + question
        return head + b"\x00\x00\x00\x00\x00\x01" + question + _OPT[edns.do]

    def _miss(
        self, data: bytes, owner: bytes, qend: int, edns: Edns | None, udp: bool
    ) -> bytes | None:
        """A name the zone does not have: NXDOMAIN inside the zone, REFUSED outside."""
        if not self.zone.contains(owner):
            return self._refused(data, qend, edns)
        soa = self.zone.soa_record(qend - len(self.zone.wire))
        answer = Answer([Sections.build(authority=[soa])], "nxdomain", NXDOMAIN)
        return self._reply(data, qend, answer, edns, udp)

    def _refused(self, data: bytes, qend: int, edns: Edns | None) -> bytes:
        self.counters.by_rcode[REFUSED] += 1
        flags = bytes((0x80 | (data[2] & 1), REFUSED))
        question = data[HEADER_LEN : qend + 4]
        if edns is None:
            return data[:2] + flags + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question
        return data[:2] + flags + b"\x00\x01\x00\x00\x00\x00\x00\x01" + question + _OPT[edns.do]

    def _error(self, data: bytes, rcode: int) -> bytes:
        """A header-only error reply (FORMERR, NOTIMP, REFUSED for NOTIFY), as NSD sends it."""
        self.counters.by_rcode[rcode] += 1
        return data[:2] + bytes((0x80 | (data[2] & 0x79), rcode)) + b"\x00" * 8

    def _slow(self, data: bytes, udp: bool) -> bytes | None:
        """Everything off the fast path, validated in full."""
        opcode = (data[2] >> 3) & 0xF
        if opcode == OPCODE_NOTIFY:
            return self._error(data, REFUSED)
        if opcode != OPCODE_QUERY:
            return self._error(data, NOTIMP)
        if data[4:10] != b"\x00\x01\x00\x00\x00\x00" or data[11] > 1 or data[10]:
            return self._error(data, FORMERR)
        try:
            qend, _ = scan_name(data, HEADER_LEN)
            if len(data) < qend + 4:
                raise Malformed("question runs past the end of the packet")
            edns = parse_opt(data, qend + 4) if data[11] else None
        except Malformed:
            return self._error(data, FORMERR)
        qtype = data[qend] << 8 | data[qend + 1]
        qclass = data[qend + 2] << 8 | data[qend + 3]
        self.counters.by_type[qtype] += 1
        if edns is not None and edns.version:
            self.counters.by_rcode[BADVERS] += 1
            flags = bytes((0x80 | (data[2] & 1), 0))
            return (
                data[:2]
                + flags
                + b"\x00\x01\x00\x00\x00\x00\x00\x01"
                + data[HEADER_LEN : qend + 4]
                + opt_record(edns.do, BADVERS)
            )
        owner = data[HEADER_LEN:qend].lower()
        if qclass != CLASS_IN or not self.zone.contains(owner):
            return self._refused(data, qend, edns)
        if qtype == TYPE_AXFR:
            return self._with_question(data, qend, NOTIMP if udp else REFUSED)
        if qtype == TYPE_IXFR:
            return self._with_question(data, qend, REFUSED)
        node = self.zone.names.get(owner)
        if node is None:
            return self._miss(data, owner, qend, edns, udp)
        return self._reply(data, qend, node.get(qtype) or node[NODATA], edns, udp)

    def _with_question(self, data: bytes, qend: int, rcode: int) -> bytes:
        """Transfers are not offered: the question echoed with an error, as NSD does over UDP."""
        self.counters.by_rcode[rcode] += 1
        flags = bytes((0x80 | (data[2] & 1), rcode))
        return data[:2] + flags + b"\x00\x01\x00\x00\x00\x00\x00\x00" + data[HEADER_LEN : qend + 4]
