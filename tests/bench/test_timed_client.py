"""harness.timed_client, which the kube bench times DNS with: a reply is timed where it reached
the client's socket (the kernel's stamp) and where the client read it, from one send time."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterator

import pytest

from harness import GlobalDns, addresses
from harness.meshes import MESH
from harness.timed_client import TimedAsker


@pytest.fixture(scope="module")
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(MESH).start()
    yield srv
    srv.stop()


def test_a_reply_reaches_the_socket_before_the_client_reads_it(server: GlobalDns) -> None:
    asker = TimedAsker(server.port)
    try:
        timed = asker.ask("foo.global")
    finally:
        asker.close()
    assert timed is not None
    assert addresses(timed.reply) == addresses(server.ask("foo.global"))
    assert 0 < timed.at_socket <= timed.in_client < 2


def test_the_client_reading_late_shows_in_client_time_only(server: GlobalDns) -> None:
    """A reply left unread for 50 ms (a client waiting for a core) arrived when it arrived."""
    asker = TimedAsker(server.port)
    real_select = asker.selector.select

    def late(timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        time.sleep(0.05)
        return real_select(timeout)

    asker.selector.select = late  # type: ignore[method-assign]
    try:
        timed = asker.ask("foo.global")
    finally:
        asker.close()
    assert timed is not None
    assert timed.in_client >= 0.05 > timed.at_socket


def test_no_reply_within_the_timeout_is_none() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        asker = TimedAsker(silent.getsockname()[1], timeout=0.2)
        try:
            assert asker.ask("foo.global") is None
        finally:
            asker.close()
