"""SPEC §5, limits at the admin port: idle and half-sent connections are closed within seconds,
connections are capped without locking out new ones, and a bad request is one log line."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from globaldns.server.admin import KEEPALIVE_SECONDS, MAX_CONNECTIONS
from harness import GlobalDns, wait_for
from tests.metrics.conftest import example_mesh


@pytest.fixture(scope="module")
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(example_mesh()).start()
    yield srv
    srv.stop()


def connect(server: GlobalDns) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.admin_port), timeout=5)


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes `sock` (reading and dropping what it sends), or fail."""
    start = time.monotonic()
    sock.settimeout(limit)
    while sock.recv(4096):
        pass
    return time.monotonic() - start


def test_a_half_sent_request_is_closed_within_seconds(server: GlobalDns) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: globaldns\r\n")  # no blank line: unfinished
        assert closed_after(sock, KEEPALIVE_SECONDS + 3) < KEEPALIVE_SECONDS + 2


def test_a_head_sent_a_byte_a_second_is_closed_as_if_it_had_stopped(server: GlobalDns) -> None:
    start = time.monotonic()
    with connect(server) as sock:
        try:
            for byte in b"GET /health HTTP/1.1\r\nX-Slow: " + b"a" * 30:
                sock.sendall(bytes([byte]))
                time.sleep(0.5)
        except OSError:  # closed under us: what is tested
            pass
        closed_after(sock, 3)
    assert time.monotonic() - start < KEEPALIVE_SECONDS + 2


def test_an_idle_keep_alive_connection_is_closed_within_seconds(server: GlobalDns) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: globaldns\r\n\r\n")
        assert closed_after(sock, KEEPALIVE_SECONDS + 3) < KEEPALIVE_SECONDS + 2


def test_idle_connections_past_the_cap_close_the_oldest_and_metrics_still_answers(
    server: GlobalDns,
) -> None:
    idle = [connect(server) for _ in range(300)]
    try:
        time.sleep(0.3)  # every one accepted
        status, body = server.http("/metrics")
        assert status == 200 and "globaldns_table_names" in body
        for sock in idle:
            sock.setblocking(False)

        def closed(sock: socket.socket) -> bool:
            try:
                return sock.recv(1) == b""
            except BlockingIOError:
                return False

        # /metrics's own connection was the 301st: the 45 oldest made room.
        wait_for(lambda: closed(idle[300 - MAX_CONNECTIONS]), 3, what="the cap to close it")
        assert [closed(sock) for sock in idle[-10:]] == [False] * 10
    finally:
        for sock in idle:
            sock.close()


def test_a_malformed_request_is_one_log_line_without_a_traceback(server: GlobalDns) -> None:
    before = server.logs().splitlines()
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: globaldns\r\nBad Header\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.split(b" ")[1] == b"400"
    wait_for(lambda: server.logs().splitlines()[len(before) :], 3, what="the log line")
    time.sleep(0.2)  # anything more would be written with it
    new = server.logs().splitlines()[len(before) :]
    assert len(new) == 1 and "Traceback" not in server.logs()
    assert "INFO" in new[0] and "127.0.0.1" in new[0] and "HTTP 400" in new[0]


def test_a_request_line_past_the_bound_is_refused_in_one_line(server: GlobalDns) -> None:
    before = len(server.logs().splitlines())
    with connect(server) as sock:
        sock.sendall(b"GET /table?name=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: g\r\n\r\n")
        assert sock.recv(4096).split(b" ")[1] in (b"400", b"414")
    new = wait_for(lambda: server.logs().splitlines()[before:], 3, what="the log line")
    assert len(new) == 1 and "Traceback" not in new[0]
