"""SPEC §3, line by line, against a running server over real sockets."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from harness import GlobalDns, addresses
from harness.meshes import MESH
from tests.dns import udp_loops
from tests.dns.udp_loops import UDP_LOOPS
from tests.support import udp_raw

FOO_QUESTION = b"\x03foo\x06global\x00\x00\x01\x00\x01"


@pytest.fixture(scope="module", params=UDP_LOOPS)
def server(request: pytest.FixtureRequest) -> Iterator[GlobalDns]:
    srv = udp_loops.start(GlobalDns(MESH), request.param)
    yield srv
    srv.stop()


def header(
    qid: int = 0x1234, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0
) -> bytes:
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


def test_udp_and_tcp_answer_on_the_same_address(server: GlobalDns) -> None:
    assert addresses(server.ask("foo.global")) == addresses(server.ask("foo.global", tcp=True))


def test_tcp_answers_pipelined_queries_in_order(server: GlobalDns) -> None:
    names = ["foo.global", "nope.global", "httpbin.bar.global"] * 3
    queries = [dns.message.make_query(n, "A") for n in names]
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        sock.sendall(
            b"".join(struct.pack(">H", len(w)) + w for w in (q.to_wire() for q in queries))
        )
        replies = [dns.query.receive_tcp(sock, expiration=None)[0] for _ in queries]
    assert [r.id for r in replies] == [q.id for q in queries]
    assert [r.question[0].name.to_text() for r in replies] == [n + "." for n in names]


def test_tcp_idle_connections_are_closed() -> None:
    srv = GlobalDns(MESH, args=["--tcp-idle-timeout", "0.3"]).start()
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=3) as sock:
            assert sock.recv(1) == b""  # closed by the server well before our 3 s timeout
    finally:
        srv.stop()


def test_tcp_connections_beyond_the_cap_are_refused_and_service_goes_on() -> None:
    srv = GlobalDns(MESH, args=["--tcp-max-connections", "2"]).start()
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=3) for _ in range(2)]
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=3) as extra:
            assert extra.recv(1) == b""
        assert addresses(srv.ask("foo.global")) == ["10.0.0.1"]  # UDP unaffected
    finally:
        for sock in held:
            sock.close()
        srv.stop()


def test_answers_are_authoritative(server: GlobalDns) -> None:
    assert server.ask("foo.global").flags & dns.flags.AA


def test_apex_has_soa_and_ns(server: GlobalDns) -> None:
    assert server.ask("global", "SOA").answer[0].rdtype == dns.rdatatype.SOA
    assert server.ask("global", "NS").answer[0].rdtype == dns.rdatatype.NS


def test_missing_name_is_nxdomain_with_soa_in_authority(server: GlobalDns) -> None:
    reply = server.ask("nope.global")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.flags & dns.flags.AA
    assert reply.authority[0].rdtype == dns.rdatatype.SOA


def test_name_below_an_existing_name_is_nxdomain(server: GlobalDns) -> None:
    assert server.ask("x.foo.global").rcode() == dns.rcode.NXDOMAIN


def test_existing_name_without_the_type_is_nodata_with_soa(server: GlobalDns) -> None:
    reply = server.ask("foo.global", "TXT")
    assert (reply.rcode(), reply.answer) == (dns.rcode.NOERROR, [])
    assert reply.authority[0].rdtype == dns.rdatatype.SOA


def test_empty_non_terminal_is_nodata_not_nxdomain(server: GlobalDns) -> None:
    reply = server.ask("bar.global")
    assert (reply.rcode(), reply.answer) == (dns.rcode.NOERROR, [])
    assert reply.authority[0].rdtype == dns.rdatatype.SOA


def test_out_of_zone_is_refused_without_aa(server: GlobalDns) -> None:
    reply = server.ask("example.com")
    assert reply.rcode() == dns.rcode.REFUSED
    assert not reply.flags & dns.flags.AA


def test_unknown_opcode_gets_notimp(server: GlobalDns) -> None:
    query = dns.message.make_query("foo.global", "A")
    query.set_opcode(dns.opcode.STATUS)
    reply = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
    assert reply.rcode() == dns.rcode.NOTIMP


def test_notify_is_refused(server: GlobalDns) -> None:
    query = dns.message.make_query("global", "SOA")
    query.set_opcode(dns.opcode.NOTIFY)
    reply = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
    assert reply.rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize("rd", [True, False])
def test_rd_is_copied_from_the_query(server: GlobalDns, rd: bool) -> None:
    assert bool(server.ask("foo.global", rd=rd).flags & dns.flags.RD) is rd


def test_recursion_is_never_available(server: GlobalDns) -> None:
    assert not server.ask("foo.global").flags & dns.flags.RA


def test_malformed_question_with_readable_header_gets_formerr(server: GlobalDns) -> None:
    reply = udp_raw(server.port, header() + b"\x03fo")
    assert reply is not None
    assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == dns.rcode.FORMERR


def test_two_questions_get_formerr(server: GlobalDns) -> None:
    reply = udp_raw(server.port, header(qd=2) + FOO_QUESTION * 2)
    assert reply is not None and reply[3] & 0x0F == dns.rcode.FORMERR


def test_packet_shorter_than_a_header_is_dropped(server: GlobalDns) -> None:
    assert udp_raw(server.port, b"\x12\x34\x01", timeout=0.3) is None


def test_responses_are_never_answered(server: GlobalDns) -> None:
    assert udp_raw(server.port, header(flags=0x8100) + FOO_QUESTION, timeout=0.3) is None


def test_edns_query_gets_an_opt_in_the_reply(server: GlobalDns) -> None:
    assert server.ask("foo.global", edns=0).edns == 0


def test_plain_query_gets_no_opt(server: GlobalDns) -> None:
    assert server.ask("foo.global", edns=False).edns == -1


def test_edns_version_above_zero_gets_badvers(server: GlobalDns) -> None:
    reply = server.ask("foo.global", edns=1)
    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.edns == 0


def test_do_bit_is_echoed_in_the_opt(server: GlobalDns) -> None:
    query = dns.message.make_query("foo.global", "A", want_dnssec=True)
    reply = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
    assert reply.ednsflags & dns.flags.DO


def test_udp_answer_that_does_not_fit_512_bytes_sets_tc(server: GlobalDns) -> None:
    reply = server.ask("big.global", edns=False)
    assert reply.flags & dns.flags.TC
    assert reply.answer == []


def test_edns_payload_is_honoured_up_to_1232_bytes(server: GlobalDns) -> None:
    small = server.ask("big.global", edns=0, payload=1232)  # 100 A records: 1,600 bytes
    assert small.flags & dns.flags.TC
    query = dns.message.make_query("big.global", "A", use_edns=0, payload=4096)
    reply = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
    assert reply.flags & dns.flags.TC  # capped at 1232 even when the client offers more


def test_truncated_answer_is_complete_over_tcp(server: GlobalDns) -> None:
    reply = server.ask("big.global", tcp=True)
    assert not reply.flags & dns.flags.TC
    assert len(addresses(reply)) == 100


def test_answer_that_fits_the_edns_payload_is_not_truncated(server: GlobalDns) -> None:
    query = dns.message.make_query("foo.global", "A", use_edns=0, payload=1232)
    reply = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
    assert not reply.flags & dns.flags.TC


def test_any_returns_a_single_rrset(server: GlobalDns) -> None:
    reply = server.ask("foo.global", "ANY")
    assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.A]


def test_zone_transfer_over_udp_is_not_implemented(server: GlobalDns) -> None:
    reply = server.ask("global", "AXFR")
    assert reply.rcode() == dns.rcode.NOTIMP


def test_other_classes_are_refused(server: GlobalDns) -> None:
    query = dns.message.make_query("foo.global", "TXT", rdclass="CH")
    reply = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
    assert reply.rcode() == dns.rcode.REFUSED


def test_zone_transfer_over_tcp_is_refused(server: GlobalDns) -> None:
    assert server.ask("global", "AXFR", tcp=True).rcode() == dns.rcode.REFUSED


def test_out_of_zone_reply_is_no_larger_than_the_query(server: GlobalDns) -> None:
    query = dns.message.make_query("www.example.com", "ANY", use_edns=0).to_wire()
    reply = udp_raw(server.port, query)
    assert reply is not None and len(reply) <= len(query)
