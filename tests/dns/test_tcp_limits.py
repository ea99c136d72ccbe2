"""SPEC §5 "Limits at every listener" for DNS over TCP (RFC 7766 §6.2.3, §6.2.4): hostile clients
cost a bounded amount and shut nobody else out, over real sockets to a real server process."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import dns.message
import dns.query
import pytest

from globaldns.server.tcp import client_address
from harness import GlobalDns, addresses, rss_mib, wait_for
from harness.meshes import MESH
from tests.metrics.scrape import scrape, value

IDLE = 3.0  # the idle timeout: above the 2 s a dribbling client waits between bytes
PER_ADDRESS = 4
# 100 addresses: about 1.6 KB of answer for 34 bytes of query, so 200,000 unread are 330 MB.
BIG = dns.message.make_query("big.global", "A").to_wire()
NAMES = ["big.global", "foo.global", "nope.global"]


@pytest.fixture(scope="module")
def server() -> Iterator[GlobalDns]:
    args = ["--tcp-idle-timeout", str(IDLE), "--tcp-max-connections-per-address", str(PER_ADDRESS)]
    srv = GlobalDns(MESH, args=args).start()
    yield srv
    srv.stop()


def framed(*messages: bytes) -> bytes:
    return b"".join(struct.pack(">H", len(m)) + m for m in messages)


def connect(server: GlobalDns, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(
        ("127.0.0.1", server.port), timeout=3, source_address=(source, 0)
    )


def push(sock: socket.socket, data: bytes, stall: float) -> int:
    """Send without reading until all is sent or the server has taken nothing for `stall`
    seconds; the bytes sent (the kernel's buffers on both sides took them)."""
    sock.setblocking(False)
    view = memoryview(data)
    sent = 0
    progress = time.monotonic()
    while sent < len(data) and time.monotonic() - progress < stall:
        try:
            sent += sock.send(view[sent : sent + 65536])
            progress = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
    sock.settimeout(3)
    return sent


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed or reset the connection (what it sent before is read
    and dropped); False if it is still open after the socket's timeout."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def open_connections(server: GlobalDns) -> float:
    return server.metric("globaldns_tcp_connections")


def test_a_client_that_never_reads_its_answers_costs_a_bounded_amount(server: GlobalDns) -> None:
    assert server.process is not None
    queries = framed(BIG) * 200_000
    before = rss_mib(server.process.pid)
    with connect(server) as sock:
        sent = push(sock, queries, stall=1.0)
        grown = rss_mib(server.process.pid) - before
        # Meanwhile everyone else is answered, over TCP from another address and over UDP.
        other = dns.query.tcp(
            dns.message.make_query("foo.global", "A"),
            "127.0.0.1",
            port=server.port,
            timeout=2,
            source="127.0.0.2",
        )
        assert addresses(other) == ["10.0.0.1"]
        assert addresses(server.ask("foo.global")) == ["10.0.0.1"]
    assert sent < len(queries)  # the server stopped reading: TCP flow control holds the rest
    assert grown < 40, f"RSS grew {grown:.1f} MiB"


def test_a_client_that_never_reads_is_closed_after_the_idle_timeout(server: GlobalDns) -> None:
    closed_before = server.metric("globaldns_tcp_unread_timeouts_total")
    with connect(server) as sock:
        push(sock, framed(BIG) * 20_000, stall=0.5)
        stalled = time.monotonic()
        wait_for(
            lambda: server.metric("globaldns_tcp_unread_timeouts_total") == closed_before + 1,
            IDLE + 2,
            0.1,
            "the paused connection to be closed",
        )
        assert time.monotonic() - stalled < IDLE + 1
        assert closed_by_server(sock)
    assert open_connections(server) == 0


def test_a_client_sending_a_byte_every_2s_is_closed_within_the_idle_timeout(
    server: GlobalDns,
) -> None:
    message = framed(BIG)
    with connect(server) as sock:
        opened = time.monotonic()
        sock.settimeout(2)
        for byte in message:  # 36 bytes: 70 s at this pace, were it never closed
            try:
                sock.send(bytes([byte]))
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                continue  # the 2 s between bytes
            except (ConnectionResetError, BrokenPipeError):
                break
        else:
            pytest.fail("the dribbling client was never closed")
        assert time.monotonic() - opened < IDLE + 1


def test_each_complete_message_restarts_the_idle_timeout(server: GlobalDns) -> None:
    with connect(server) as sock:
        for pause in (IDLE - 1, IDLE - 1, 0):  # 4 s in all, beyond the 3 s timeout
            sock.sendall(framed(dns.message.make_query("foo.global", "A").to_wire()))
            assert dns.query.receive_tcp(sock, expiration=time.time() + 2)[0].answer
            time.sleep(pause)


def test_the_per_address_cap_refuses_one_address_and_not_another(server: GlobalDns) -> None:
    wait_for(lambda: open_connections(server) == 0, 5, what="earlier connections to close")
    refused_before = value(
        scrape(server), "globaldns_tcp_refused_connections_total", reason="address_cap"
    )
    held = [connect(server) for _ in range(PER_ADDRESS)]
    try:
        wait_for(lambda: open_connections(server) == PER_ADDRESS, 5, what="the connections")
        with connect(server) as extra:
            assert closed_by_server(extra)
        with connect(server, source="127.0.0.2") as other:
            query = dns.message.make_query("foo.global", "A")
            other.sendall(framed(query.to_wire()))
            reply = dns.query.receive_tcp(other, expiration=time.time() + 2)[0]
            assert addresses(reply) == ["10.0.0.1"]
    finally:
        for sock in held:
            sock.close()
    refused = value(scrape(server), "globaldns_tcp_refused_connections_total", reason="address_cap")
    assert refused == refused_before + 1


def test_an_ipv4_client_of_a_dual_stack_listener_counts_as_its_ipv4_address() -> None:
    assert client_address(("::ffff:10.1.2.3", 53, 0, 0)) == client_address(("10.1.2.3", 53))
    assert client_address(("fd00::1", 53, 0, 0)) == "fd00::1"


def pipelined(count: int) -> list[bytes]:
    """Queries numbered in their ids, each asking a name of `NAMES` in turn (no EDNS: the
    question ends the message), whose answers run from 1.6 KB down."""
    wires = [dns.message.make_query(name, "A").to_wire()[2:] for name in NAMES]
    return [struct.pack(">H", i & 0xFFFF) + wires[i % len(wires)] for i in range(count)]


def answered_in_order(sock: socket.socket, queries: list[bytes]) -> bool:
    """Read one reply per query; each must carry its query's id and question, in order."""
    stream = sock.makefile("rb")
    for query in queries:
        (size,) = struct.unpack(">H", stream.read(2))
        reply = stream.read(size)
        if reply[:2] != query[:2] or reply[12 : len(query)] != query[12:]:
            return False
    return True


def test_a_reading_client_gets_every_pipelined_answer_in_order_while_reading_pauses(
    server: GlobalDns,
) -> None:
    queries = pipelined(20_000)  # 11 MB of answers: more than the buffers between us hold
    pauses_before = server.metric("globaldns_tcp_read_pauses_total")
    with connect(server) as sock:
        sender = threading.Thread(target=sock.sendall, args=(framed(*queries),))
        sender.start()
        time.sleep(0.5)  # answers pile up unread first, so the server must pause, however fast
        assert answered_in_order(sock, queries)  # we read afterwards
        sender.join(5)
    assert server.metric("globaldns_tcp_read_pauses_total") > pauses_before


def test_queries_pipelined_before_a_half_close_are_all_answered(server: GlobalDns) -> None:
    queries = pipelined(20_000)
    with connect(server) as sock:
        sender = threading.Thread(target=send_and_half_close, args=(sock, queries))
        sender.start()
        assert answered_in_order(sock, queries)
        sender.join(5)
        assert closed_by_server(sock)


def send_and_half_close(sock: socket.socket, queries: list[bytes]) -> None:
    sock.sendall(framed(*queries))
    sock.shutdown(socket.SHUT_WR)
