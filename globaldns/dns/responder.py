"""Answers one query packet from the compiled zone: bytes in, bytes (or nothing) out.

Sans-I/O, so the UDP and TCP servers and the tests share it. The common case, a well-formed
QUERY with at most an OPT record, costs a name scan, one dict lookup and one join, with no
objects made on the way; everything else (errors, odd opcodes, BADVERS, transfers) takes the
slow path, which mirrors what NSD answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from globaldns.dns.answer import Answer
from globaldns.dns.compile import Tier
from globaldns.dns.memo import Recent
from globaldns.dns.wire import (
    AA,
    BADKEY,
    BADVERS,
    CLASS_ANY,
    CLASS_CH,
    CLASS_IN,
    EDNS_DO,
    EDNS_UDP_MAX,
    FORMERR,
    HEADER_LEN,
    MAX_LABEL_LEN,
    MAX_NAME_LEN,
    NOTAUTH,
    NOTIMP,
    OPCODE_MASK,
    OPCODE_NOTIFY,
    OPCODE_QUERY,
    OPCODE_SHIFT,
    OPT_RR_LEN,
    OPTION_NSID,
    PLAIN_UDP_MAX,
    QR,
    RCODE_MASK,
    RD,
    REFUSED,
    TC,
    TYPE_AXFR,
    TYPE_IXFR,
    Edns,
    Malformed,
    Tsig,
    opt_record,
    parse_additional,
    scan_name,
    skip_records,
    udp_limit,
)
from globaldns.dns.zone import NODATA, Zone

TCP_MAX = 65535
_ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00\x00"  # QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT hi
_ONE_QUESTION_ONLY = _ONE_QUESTION[:6]
_OPT = (opt_record(do=False), opt_record(do=True))
_NO_RECORDS = b"\x00\x01\x00\x00\x00\x00\x00\x00"
_NO_RECORDS_EDNS = b"\x00\x01\x00\x00\x00\x00\x00\x01"


@dataclass
class QueryCounters:
    """Plain integers counted per query; exported to Prometheus only when scraped."""

    by_type: list[int] = field(default_factory=lambda: [0] * 65536)
    by_rcode: list[int] = field(default_factory=lambda: [0] * 32)
    by_tier: list[int] = field(default_factory=lambda: [0] * len(Tier))
    dropped: int = 0
    truncated: int = 0


class Unasked(Enum):
    """`Responder.respond`'s `seen` when the memo was not asked for the question yet."""

    UNASKED = "unasked"


UNASKED: Final = Unasked.UNASKED


class Responder:
    """Answers from `zone`, and from each of `others` (e.g. `clusterset.local`) the questions
    inside it: those take the path a question the memo lacks takes, and are never remembered.
    Each other zone counts its answers by tier and its truncated replies apart
    (`others[i].counters`), queries by type and rcode in the same lists."""

    def __init__(
        self, zone: Zone, counters: QueryCounters | None = None, others: Sequence[Zone] = ()
    ) -> None:
        self.zone = zone
        self.memo = zone.memo
        self.counters = counters or QueryCounters()
        by_type, by_rcode = self.counters.by_type, self.counters.by_rcode  # shared
        self.others = tuple(Responder(o, QueryCounters(by_type, by_rcode)) for o in others)

    # One function for the whole fast path, on purpose (past the house's 60 lines): split
    # after the memo, a TCP query or a UDP question the memo lacks cost ~50 ns more of ~2.2 µs
    # (CPU time per call, measured on a microbenchmark); a remembered question the same.
    def respond(
        self, data: bytes, udp: bool, seen: Recent | Unasked | None = UNASKED
    ) -> bytes | None:
        """The reply to `data`, or None when it must be dropped (a reply, or unreadable).

        `seen` is what the memo holds for the question when the caller asked it already: the
        compiled UDP loop hands over what it found but could not splice, or None for a miss.
        """
        size = len(data)
        if size < HEADER_LEN or data[2] & QR:
            self.counters.dropped += 1
            return None
        # Fastest path: a question (and OPT) seen over UDP since the table last changed, in any
        # letter case (DNS 0x20): the memo is keyed case-insensitively and the asker's own
        # question bytes are spliced into the remembered reply.
        if seen is UNASKED:
            seen = (
                self.memo.entries.get(data[10:].lower())
                if udp
                and not data[2] & OPCODE_MASK
                and not data[3] & RCODE_MASK
                and data[4:10] == _ONE_QUESTION_ONLY
                else None
            )
        if seen is not None:
            hit = seen.answer
            counters = self.counters
            counters.by_type[seen.qtype] += 1
            heads = seen.heads
            if heads is None:  # rotating records or TC: assembled per query
                return self._reply(data, seen.qend, hit, seen.do, seen.limit)
            counters.by_rcode[hit.rcode] += 1
            counters.by_tier[hit.tier] += 1
            question = data[HEADER_LEN : seen.qend + 4]
            return b"".join((data[:2], heads[data[2] & RD], question, seen.tail))
        # Fast path: QUERY, one question, no answer/authority, at most one additional (OPT).
        if (
            data[2] & OPCODE_MASK
            or data[3] & RCODE_MASK
            or data[4:11] != _ONE_QUESTION
            or data[11] > 1
        ):
            return self._slow(data, udp)
        i = HEADER_LEN
        while True:
            if i >= size:
                return self._error(data, FORMERR)
            length = data[i]
            if not length:
                break
            if length > MAX_LABEL_LEN:
                return self._error(data, FORMERR)
            i += length + 1
        qend = i + 1
        if (
            qend - HEADER_LEN > MAX_NAME_LEN
            or size < qend + 4
            or data[qend + 2 : qend + 4] != b"\x00\x01"
        ):
            return self._slow(data, udp)
        qtype = data[qend] << 8 | data[qend + 1]
        if qtype in (TYPE_AXFR, TYPE_IXFR):
            return self._slow(data, udp)
        do = -1  # no EDNS
        limit = PLAIN_UDP_MAX if udp else TCP_MAX
        if data[11]:
            o = qend + 4
            if (
                size < o + OPT_RR_LEN
                or data[o : o + 3] != b"\x00\x00\x29"
                or data[o + 6]  # EDNS version above 0: BADVERS on the slow path
            ):
                return self._slow(data, udp)
            end = o + OPT_RR_LEN + (data[o + 9] << 8 | data[o + 10])
            if end > o + OPT_RR_LEN:  # options (a cookie): they must tile the data exactly
                if size < end:
                    return self._slow(data, udp)
                i = o + OPT_RR_LEN
                while i + 4 <= end:
                    if not data[i] and data[i + 1] == OPTION_NSID:
                        return self._slow(data, udp)  # the reply carries our identity
                    i += 4 + (data[i + 2] << 8 | data[i + 3])
                if i != end:
                    return self._slow(data, udp)
            do = 1 if data[o + 7] & EDNS_DO else 0
            if udp:
                payload = data[o + 3] << 8 | data[o + 4]
                limit = EDNS_UDP_MAX if payload > EDNS_UDP_MAX else max(payload, PLAIN_UDP_MAX)
            limit -= OPT_RR_LEN
        counters = self.counters
        counters.by_type[qtype] += 1
        answer = self._answer_for(data[HEADER_LEN:qend].lower(), qend, qtype)
        if answer is None:
            return self._other_zone(data, qend, qtype, do, limit)
        reply = self._reply(data, qend, answer, do, limit)
        if udp:
            self._remember(data, reply, answer, qend, do, limit, qtype)
        return reply

    def _other_zone(self, data: bytes, qend: int, qtype: int, do: int, limit: int) -> bytes:
        """A question outside `zone`: another zone's answer, else REFUSED."""
        owner = data[HEADER_LEN:qend].lower()
        other = self._serving(owner)
        answer = None if other is None else other._answer_for(owner, qend, qtype)
        if other is None or answer is None:
            return self._refused(data, qend, do)
        return other._reply(data, qend, answer, do, limit)

    def _serving(self, owner: bytes) -> Responder | None:
        """Which zone's responder answers a name at or below its apex; None: REFUSED."""
        if self.zone.contains(owner):
            return self
        return next((other for other in self.others if other.zone.contains(owner)), None)

    def _answer_for(self, owner: bytes, qend: int, qtype: int) -> Answer | None:
        """The compiled answer: the name's, a wildcard's (on the miss path only, so exact names
        cost what they did), NXDOMAIN inside the zone, None (REFUSED) outside."""
        zone = self.zone
        node = zone.names.get(owner)
        if node is not None:
            return node.get(qtype) or node[NODATA]
        node = zone.on_miss(owner)  # a name held for later (pinned): compiled on demand
        if node is not None:
            return node.get(qtype) or node[NODATA]
        if zone.contains(owner):
            if zone.wildcards:  # a name below a wildcard's parent that nothing else names
                answer = zone.synthesized(owner, qtype)
                if answer is not None:
                    return answer
            return zone.missing(qend - len(zone.wire))
        return None

    def _remember(
        self, data: bytes, reply: bytes, answer: Answer, qend: int, do: int, limit: int, qtype: int
    ) -> None:
        """Keep the reply around the question, for both RD settings, unless it truncated.

        Only the name is compared case-insensitively: a question whose other bytes (type, class,
        OPT) hold an ASCII letter is not kept, so `lower()` of the key cannot join two questions
        that differ outside the name (qtype 65 lower-cases to 97).
        """
        rest = data[qend:]
        if rest.lower() != rest.upper():
            return
        heads = None
        if answer.turns is None and not reply[2] & TC:
            counts = reply[3:HEADER_LEN]
            heads = (bytes((reply[2] & ~RD,)) + counts, bytes((reply[2] | RD,)) + counts)
        entry = Recent(heads, reply[qend + 4 :], answer, qend, do, limit, qtype)
        self.memo.keep(data[10:].lower(), entry)

    def _reply(self, data: bytes, qend: int, answer: Answer, do: int, limit: int) -> bytes:
        sections = answer.sections
        body = sections.body
        turns = answer.turns
        if turns is not None:
            turn = answer.turn % turns.steps
            answer.turn = turn + 1  # kept small, as the compiled loop keeps it
            body = turns.order(turn)  # as long as order 0's: `sections.body`
        counters = self.counters
        counters.by_rcode[answer.rcode] += 1
        counters.by_tier[answer.tier] += 1
        flags = answer.flags[data[2] & RD]
        room = limit - qend - 4
        if len(body) > room:
            while sections.without_additional is not None and len(sections.body) > room:
                sections = sections.without_additional  # one additional RRset less
            body = sections.body
            if len(body) > room:
                counters.truncated += 1  # TC set, every section emptied, as NSD does
                return _bare(data, qend, bytes((flags[0] | TC, flags[1])), do)
        if do < 0:
            return b"".join((data[:2], flags, sections.head, data[HEADER_LEN : qend + 4], body))
        return b"".join(
            (data[:2], flags, sections.edns_head, data[HEADER_LEN : qend + 4], body, _OPT[do])
        )

    def _refused(self, data: bytes, qend: int, do: int) -> bytes:
        self.counters.by_rcode[REFUSED] += 1
        return _bare(data, qend, bytes((QR | (data[2] & RD), REFUSED)), do)

    def _error(self, data: bytes, rcode: int) -> bytes:
        """A header-only error reply (FORMERR, NOTIMP, REFUSED for NOTIFY), as NSD sends it."""
        self.counters.by_rcode[rcode] += 1
        return data[:2] + bytes((QR | (data[2] & (OPCODE_MASK | RD)), rcode)) + b"\x00" * 8

    def _with_question(self, data: bytes, qend: int, rcode: int, do: int) -> bytes:
        """Transfers are not offered: the question echoed with an error (and the OPT, RFC 6891
        §7), as NSD does."""
        self.counters.by_rcode[rcode] += 1
        return _bare(data, qend, bytes((QR | (data[2] & RD), rcode)), do)

    def _badkey(self, data: bytes, do: int, tsig: Tsig) -> bytes:
        """A signed query: no key is known here, so NOTAUTH with an unsigned TSIG saying BADKEY
        (RFC 8945 §5.2), the question dropped, as NSD answers."""
        self.counters.by_rcode[NOTAUTH] += 1
        head = data[:2] + bytes((QR | (data[2] & RD), NOTAUTH)) + b"\x00" * 6
        if do < 0:
            return head + b"\x00\x01" + tsig.error_record(BADKEY)
        return head + b"\x00\x02" + _OPT[do] + tsig.error_record(BADKEY)

    def _any_class(self, data: bytes, qend: int, answer: Answer, do: int, limit: int) -> bytes:
        """QCLASS ANY: the IN records with AA clear, and no SOA for a negative answer, as NSD
        answers (RFC 1035 §3.2.5 allows several classes; this zone holds one)."""
        reply = self._reply(data, qend, answer, do, limit)
        if reply[6:8] == b"\x00\x00":  # nothing in the answer section: only the rcode stays
            return _bare(data, qend, bytes((reply[2] & ~AA, reply[3])), do)
        return reply[:2] + bytes((reply[2] & ~AA,)) + reply[3:]

    def _slow(self, data: bytes, udp: bool) -> bytes | None:
        """Everything off the fast path, validated in full in the order NSD checks it."""
        opcode = (data[2] & OPCODE_MASK) >> OPCODE_SHIFT
        if opcode == OPCODE_NOTIFY:
            return self._error(data, REFUSED)
        if opcode != OPCODE_QUERY:
            return self._error(data, NOTIMP)
        if data[3] & RCODE_MASK or data[4:8] != b"\x00\x01\x00\x00":
            return self._error(data, FORMERR)
        try:
            qend = scan_name(data, HEADER_LEN)
            if len(data) < qend + 4:
                raise Malformed("question runs past the end of the packet")
            qtype = data[qend] << 8 | data[qend + 1]
            authority = data[8] << 8 | data[9]
            if authority and qtype != TYPE_IXFR:
                raise Malformed("records in the authority section of a query")
            end = skip_records(data, qend + 4, authority)
            edns, tsig = parse_additional(data, end, data[10] << 8 | data[11])
        except Malformed:
            return self._error(data, FORMERR)
        qclass = data[qend + 2] << 8 | data[qend + 3]
        self.counters.by_type[qtype] += 1
        do = -1 if edns is None else int(edns.do)
        if tsig is not None:
            return self._badkey(data, do, tsig)
        nsid = self.zone.nsid if edns is not None and edns.nsid else b""
        reply = self._checked(data, udp, qend, qtype, qclass, edns, do, len(nsid))
        if nsid:  # the OPT ends the reply: the option goes after its (empty) data
            return reply[:-2] + len(nsid).to_bytes(2, "big") + nsid
        return reply

    def _checked(
        self,
        data: bytes,
        udp: bool,
        qend: int,
        qtype: int,
        qclass: int,
        edns: Edns | None,
        do: int,
        options: int,
    ) -> bytes:
        """The reply to a well-formed query off the fast path; `options` bytes of EDNS options
        will be added to its OPT."""
        if edns is not None and edns.version:
            self.counters.by_rcode[BADVERS] += 1
            head = data[:2] + bytes((QR | (data[2] & RD), 0)) + _NO_RECORDS_EDNS
            return head + data[HEADER_LEN : qend + 4] + opt_record(edns.do, BADVERS)
        owner = data[HEADER_LEN:qend].lower()
        limit = (udp_limit(edns) if udp else TCP_MAX) - (0 if edns is None else OPT_RR_LEN)
        limit -= options
        if qclass == CLASS_CH:
            node = self.zone.chaos.get(owner)
            chaos = node.get(qtype) if node is not None else None
            if chaos is None:
                return self._refused(data, qend, do)
            return self._reply(data, qend, chaos, do, limit)
        serving = self._serving(owner)
        if qclass not in (CLASS_IN, CLASS_ANY) or serving is None:
            return self._refused(data, qend, do)
        if qtype == TYPE_AXFR:
            return self._with_question(data, qend, NOTIMP if udp else REFUSED, do)
        if qtype == TYPE_IXFR:
            return self._with_question(data, qend, REFUSED, do)
        # Well-formed after all, e.g. with EDNS options or a record count the fast path skips.
        answer = serving._answer_for(owner, qend, qtype)
        assert answer is not None  # inside the zone, checked above
        if qclass == CLASS_ANY:
            return serving._any_class(data, qend, answer, do, limit)
        return serving._reply(data, qend, answer, do, limit)


def _bare(data: bytes, qend: int, flags: bytes, do: int) -> bytes:
    """A reply with the question echoed and no records but the OPT (when `do` >= 0)."""
    if do < 0:
        return data[:2] + flags + _NO_RECORDS + data[HEADER_LEN : qend + 4]
    return data[:2] + flags + _NO_RECORDS_EDNS + data[HEADER_LEN : qend + 4] + _OPT[do]
