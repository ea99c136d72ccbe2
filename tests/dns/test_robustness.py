"""Garbage never kills the server or stops it answering valid queries."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import dns.message
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from globaldns.dns.responder import Responder
from globaldns.dns.wire import QR
from globaldns.dns.zone import ZoneConfig
from globaldns.sources import mesh as mesh_source
from globaldns.table.table import Table
from harness import GlobalDns, addresses
from harness.meshes import MESH
from tests.dns import udp_loops
from tests.dns.udp_loops import UDP_LOOPS
from tests.support import udp_raw

VALID = dns.message.make_query("foo.global", "A", use_edns=0).to_wire()


@pytest.fixture(scope="module", params=UDP_LOOPS)
def server(request: pytest.FixtureRequest) -> Iterator[GlobalDns]:
    srv = udp_loops.start(GlobalDns(MESH, args=["--tcp-idle-timeout", "1"]), request.param)
    yield srv
    srv.stop()


def responder() -> Responder:
    table = Table(ZoneConfig(), local_cluster="a")
    mesh_source.apply(mesh_source.parse(MESH, "test"), None, table)
    return Responder(table.zone)


RESPONDER = responder()


def mutations() -> st.SearchStrategy[bytes]:
    """Valid queries with bytes flipped, cut or appended, and plain random bytes."""
    flipped = st.lists(
        st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6
    ).map(_apply)
    cut = st.integers(0, len(VALID)).map(lambda n: VALID[:n])
    grown = st.binary(max_size=64).map(lambda tail: VALID + tail)
    return st.one_of(flipped, cut, grown, st.binary(max_size=600))


def _apply(edits: list[tuple[int, int]]) -> bytes:
    packet = bytearray(VALID)
    for offset, value in edits:
        packet[offset] = value
    return bytes(packet)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packet=mutations(), udp=st.booleans())
def test_responder_never_raises_and_echoes_the_id(packet: bytes, udp: bool) -> None:
    reply = RESPONDER.respond(packet, udp)
    if reply is not None:
        assert reply[:2] == packet[:2]
        assert reply[2] & QR
        if udp:
            assert len(reply) <= 1232


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(packet=mutations())
def test_server_still_answers_after_garbage_over_udp(server: GlobalDns, packet: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(packet, ("127.0.0.1", server.port))
    assert addresses(server.ask("foo.global")) == ["10.0.0.1"]


def test_server_answers_valid_queries_after_the_garbage(server: GlobalDns) -> None:
    for _ in range(200):
        udp_raw(server.port, b"\xff" * 40, timeout=0.01)
    assert server.alive()
    assert addresses(server.ask("foo.global")) == ["10.0.0.1"]


def test_oversized_tcp_frame_does_not_stall_the_server(server: GlobalDns) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        sock.sendall(struct.pack(">H", 65535) + b"\x00" * 65535)
        sock.settimeout(3)
        reply = sock.recv(2)  # FORMERR for the garbage message, then it may close
    assert server.alive()
    assert len(reply) in (0, 2)
    assert addresses(server.ask("foo.global", tcp=True)) == ["10.0.0.1"]


def test_truncated_tcp_frame_is_closed_by_the_idle_timeout(server: GlobalDns) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(struct.pack(">H", 100) + VALID[:10])
        assert sock.recv(1) == b""  # the server gave up on the half frame


def test_many_half_open_tcp_connections_do_not_block_service(server: GlobalDns) -> None:
    held = []
    try:
        for i in range(200):  # from 20 other addresses, 10 each: under the per-address cap
            sock = socket.create_connection(
                ("127.0.0.1", server.port), timeout=3, source_address=(f"127.0.1.{i % 20 + 1}", 0)
            )
            sock.sendall(b"\x00")  # half a length prefix, then silence
            held.append(sock)
        assert addresses(server.ask("foo.global")) == ["10.0.0.1"]
        assert addresses(server.ask("foo.global", tcp=True)) == ["10.0.0.1"]
    finally:
        for sock in held:
            sock.close()


def test_tcp_reply_to_a_response_packet_closes_the_connection(server: GlobalDns) -> None:
    response = bytearray(VALID)
    response[2] |= QR
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        sock.sendall(struct.pack(">H", len(response)) + bytes(response))
        assert sock.recv(1) == b""
