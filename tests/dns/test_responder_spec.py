"""SPEC §3 in-process: query bytes in, rcode, flags and sections out, for a compiled table.

The same rules the socket tests check end to end, table-driven and without a server, so each
row names one behaviour and a failure shows the exact reply.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from globaldns.dns.responder import Responder
from globaldns.dns.zone import ZoneConfig
from globaldns.table.model import Cluster, GatewayHealth, Instance, Port
from globaldns.table.table import Table

SOA = "SOA"


def build_table() -> Table:
    table = Table(ZoneConfig(ttl=5), local_cluster="a")
    table.put_cluster(Cluster("a", "west", ("192.0.2.1",)))
    table.put_cluster(Cluster("b", "east", ("192.0.2.2", "2001:db8::2")))
    ports = (Port("http", 80), Port("grpc", 9090), Port("grpc-web", 8080))
    table.put_instance("a", "ns/foo", Instance("foo", ("10.0.0.1",), 1, ports))
    table.put_instance("b", "ns/foo", Instance("foo", ("10.1.0.1",), 1, ports))
    table.put_instance("b", "bar/httpbin", Instance("httpbin.bar", ("10.1.0.2",), 1))
    table.commit()
    return table


@dataclass(frozen=True)
class Ask:
    """A question and the reply SPEC §3 asks for."""

    says: str
    name: str
    rdtype: str = "A"
    rcode: int = dns.rcode.NOERROR
    answer: frozenset[str] = frozenset()
    authority: tuple[str, ...] = ()  # record types in the authority section
    additional: frozenset[str] = frozenset()
    aa: bool = True
    edns: int | bool = False
    rd: bool = True
    opcode: int = dns.opcode.QUERY
    tcp: bool = False
    echoed: bool = True  # the question comes back (NSD's header-only errors drop it)

    def query(self) -> bytes:
        query = dns.message.make_query(self.name, self.rdtype, use_edns=self.edns)
        query.set_opcode(self.opcode)
        if not self.rd:
            query.flags &= ~dns.flags.RD
        return query.to_wire()


def rrs(*texts: str) -> frozenset[str]:
    return frozenset(texts)


ASKS = [
    Ask("a local name answers its ClusterIP", "foo.global", answer=rrs("foo.global. 5 A 10.0.0.1")),
    Ask(
        "a question's case is echoed (0x20)",
        "FoO.GlObAl",
        answer=rrs("FoO.GlObAl. 5 A 10.0.0.1"),
    ),
    Ask("AAAA of a v4-only name is NODATA with the SOA", "foo.global", "AAAA", authority=(SOA,)),
    Ask(
        "a pinned name answers its cluster's gateways",
        "foo-b.global",
        "AAAA",
        answer=rrs("foo-b.global. 5 AAAA 2001:db8::2"),
    ),
    Ask(
        "SRV answers the named port with the target's addresses as additional data",
        "_http._tcp.foo.global",
        "SRV",
        answer=rrs("_http._tcp.foo.global. 5 SRV 0 100 80 foo.global."),
        additional=rrs("foo.global. 5 A 10.0.0.1"),
    ),
    Ask(
        "SRV of another port of the same name's length carries the same additional data",
        "_grpc._tcp.foo.global",
        "SRV",
        answer=rrs("_grpc._tcp.foo.global. 5 SRV 0 100 9090 foo.global."),
        additional=rrs("foo.global. 5 A 10.0.0.1"),
    ),
    Ask(
        "SRV of a longer port name points its additional data at the target all the same",
        "_grpc-web._tcp.foo.global",
        "SRV",
        answer=rrs("_grpc-web._tcp.foo.global. 5 SRV 0 100 8080 foo.global."),
        additional=rrs("foo.global. 5 A 10.0.0.1"),
    ),
    Ask("an empty non-terminal is NODATA", "bar.global", authority=(SOA,)),
    Ask("the SRV parent is an empty non-terminal", "_tcp.foo.global", authority=(SOA,)),
    Ask(
        "a name that does not exist is NXDOMAIN with the SOA",
        "nope.global",
        rcode=dns.rcode.NXDOMAIN,
        authority=(SOA,),
    ),
    Ask(
        "a name below an existing one does not exist",
        "x.foo.global",
        rcode=dns.rcode.NXDOMAIN,
        authority=(SOA,),
    ),
    Ask(
        "the apex has an SOA",
        "global",
        SOA,
        answer=rrs(
            "global. 5 SOA globaldns.globaldns.svc.cluster.local. hostmaster.global. "
            "SERIAL 3600 600 86400 5"
        ),
    ),
    Ask(
        "the apex has an NS",
        "global",
        "NS",
        answer=rrs("global. 5 NS globaldns.globaldns.svc.cluster.local."),
    ),
    Ask("ANY answers one RRset", "foo.global", "ANY", answer=rrs("foo.global. 5 A 10.0.0.1")),
    Ask("out of zone is REFUSED without AA", "example.com", rcode=dns.rcode.REFUSED, aa=False),
    Ask("RD clear is copied", "foo.global", rd=False, answer=rrs("foo.global. 5 A 10.0.0.1")),
    Ask("EDNS gets an OPT back", "foo.global", edns=0, answer=rrs("foo.global. 5 A 10.0.0.1")),
    Ask("EDNS above version 0 is BADVERS", "foo.global", edns=1, rcode=dns.rcode.BADVERS, aa=False),
    Ask("NOTIFY is REFUSED, header only", "global", SOA, opcode=dns.opcode.NOTIFY,
        rcode=dns.rcode.REFUSED, aa=False, echoed=False),
    Ask("other opcodes are NOTIMP, header only", "global", opcode=dns.opcode.STATUS,
        rcode=dns.rcode.NOTIMP, aa=False, echoed=False),
    Ask("AXFR over UDP is NOTIMP", "global", "AXFR", rcode=dns.rcode.NOTIMP, aa=False),
    Ask("AXFR over TCP is REFUSED", "global", "AXFR", rcode=dns.rcode.REFUSED, aa=False, tcp=True),
]  # fmt: skip


def exchange(responder: Responder, ask: Ask, wire: bytes | None = None) -> dns.message.Message:
    reply = responder.respond(wire if wire is not None else ask.query(), udp=not ask.tcp)
    assert reply is not None
    return dns.message.from_wire(reply)


def sections(reply: dns.message.Message) -> tuple[frozenset[str], ...]:
    def text(section: list[dns.rrset.RRset]) -> frozenset[str]:
        out = set()
        for rrset in section:
            for rr in rrset:
                data = rr.to_text()
                if rrset.rdtype == dns.rdatatype.SOA:
                    parts = data.split()
                    parts[2] = "SERIAL"
                    data = " ".join(parts)
                rtype = dns.rdatatype.to_text(rrset.rdtype)
                out.add(f"{rrset.name.to_text()} {rrset.ttl} {rtype} {data}")
        return frozenset(out)

    return text(reply.answer), text(reply.additional)


@pytest.mark.parametrize("ask", ASKS, ids=[ask.says for ask in ASKS])
def test_responder(ask: Ask) -> None:
    reply = exchange(Responder(build_table().zone), ask)
    answer, additional = sections(reply)
    assert reply.rcode() == ask.rcode
    assert bool(reply.flags & dns.flags.AA) == ask.aa
    assert bool(reply.flags & dns.flags.RD) == ask.rd
    assert reply.flags & dns.flags.QR
    assert (answer, additional) == (ask.answer, ask.additional)
    assert tuple(dns.rdatatype.to_text(r.rdtype) for r in reply.authority) == ask.authority
    assert reply.edns == (-1 if ask.edns is False else 0)
    assert [q.name.to_text() for q in reply.question] == ([ask.name + "."] if ask.echoed else [])


def test_a_reply_is_never_answered() -> None:
    query = bytearray(ASKS[0].query())
    query[2] |= 0x80
    assert Responder(build_table().zone).respond(bytes(query), udp=True) is None


def test_a_question_running_past_the_packet_is_formerr() -> None:
    reply = Responder(build_table().zone).respond(ASKS[0].query()[:-3], udp=True)
    assert reply is not None and dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR


def test_a_down_gateway_leaves_the_answer_after_commit() -> None:
    table = build_table()
    responder = Responder(table.zone)
    ask = Ask("", "foo-east.global", "AAAA")
    assert sections(exchange(responder, ask))[0] == rrs("foo-east.global. 5 AAAA 2001:db8::2")
    table.put_gateway_health("b", "2001:db8::2", GatewayHealth(False, 0.0, "refused 3 times"))
    table.commit()
    assert sections(exchange(responder, ask))[0] == frozenset()


INCOMPLETE = [
    Ask("a missing name is SERVFAIL, without AA or records", "nope.global",
        rcode=dns.rcode.SERVFAIL, aa=False),
    Ask("a name below an existing one is SERVFAIL", "x.foo.global", rcode=dns.rcode.SERVFAIL,
        aa=False),
    Ask("an existing name answers as usual", "foo.global", answer=rrs("foo.global. 5 A 10.0.0.1")),
    Ask("an empty non-terminal is still NODATA", "bar.global", authority=(SOA,)),
    Ask("with EDNS the OPT is still echoed", "nope.global", edns=0, rcode=dns.rcode.SERVFAIL,
        aa=False),
]  # fmt: skip


@pytest.mark.parametrize("ask", INCOMPLETE, ids=[ask.says for ask in INCOMPLETE])
def test_while_a_cluster_never_synced(ask: Ask) -> None:
    table = build_table()
    table.set_complete(False)
    reply = exchange(Responder(table.zone), ask)
    assert (reply.rcode(), bool(reply.flags & dns.flags.AA)) == (ask.rcode, ask.aa)
    assert sections(reply)[0] == ask.answer
    assert tuple(dns.rdatatype.to_text(r.rdtype) for r in reply.authority) == ask.authority
    assert reply.edns == (-1 if ask.edns is False else 0)


def test_a_remembered_reply_is_forgotten_when_the_table_becomes_complete_or_not() -> None:
    table = build_table()
    responder = Responder(table.zone)
    ask = Ask("", "nope.global")
    wire = ask.query()
    rcodes = []
    for complete in (True, False, True):
        table.set_complete(complete)
        table.commit()
        rcodes += [exchange(responder, ask, wire).rcode() for _ in range(2)]
    nx, fail = dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL
    assert rcodes == [nx, nx, fail, fail, nx, nx]


def test_complete_again_takes_effect_once_pending_names_are_compiled() -> None:
    table = build_table()
    table.set_complete(False)
    for i in range(50):
        table.put_instance("b", f"ns/s{i}", Instance(f"s{i}", ("10.1.0.9",), 1))
    table.set_complete(True)
    assert not table.commit(budget=0.0)
    assert not table.zone.complete
    while not table.commit(budget=0.0):
        pass
    assert table.zone.complete
