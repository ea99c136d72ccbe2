"""The compiled UDP loop answers every packet exactly as the pure responder does.

In process: the same packets go to a responder behind the compiled loop (over a real socket)
and to a twin responder called directly; replies and counters must be equal, byte for byte.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import dns.flags
import dns.message
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from globaldns.dns.responder import Responder
from globaldns.server import dns as transport
from globaldns.server.counters import BOUNDS_NS, TransportCounters
from tests.dns.test_robustness import mutations, responder

FastUdp = transport.compiled_udp()
pytestmark = pytest.mark.skipif(
    FastUdp is None, reason="the compiled UDP loop is not built (or GLOBALDNS_PURE_PYTHON=1)"
)
NAMES = ["foo.global", "httpbin.bar.global", "big.global", "nope.global", "global", "x.org"]


def twin_responder() -> Responder:
    """A responder over its own zone; every one made here has the same SOA serial."""
    with mock.patch("time.time", return_value=1_800_000_000.0):
        return responder()


@contextmanager
def compiled(counters: TransportCounters) -> Iterator[tuple[Responder, Pair]]:
    served = twin_responder()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.setblocking(False)
        assert FastUdp is not None
        loop = FastUdp(
            server.fileno(),
            served,
            lambda data, seen: served.respond(data, True, seen),
            counters,
            BOUNDS_NS,
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.connect(server.getsockname())
            client.setblocking(False)
            yield served, Pair(loop, client)


class Pair:
    """A client socket and the compiled loop it talks to, driven one packet at a time."""

    def __init__(self, loop: object, client: socket.socket) -> None:
        self.loop = loop
        self.client = client

    def exchange(self, packet: bytes) -> bytes | None:
        self.client.send(packet)
        self.loop.drain()  # type: ignore[attr-defined]
        try:
            return self.client.recv(65535)
        except BlockingIOError:
            return None


def spelled(name: str, upper: list[bool]) -> str:
    return (
        "".join(c.upper() if up else c for c, up in zip(name, upper, strict=False))
        + name[len(upper) :]
    )


def questions() -> st.SearchStrategy[bytes]:
    """Valid questions in random letter case, so the memo answers many of them."""
    return st.builds(
        lambda name, upper, rdtype, qid, edns, rd: _query(
            spelled(name, upper), rdtype, qid, edns, rd
        ),
        st.sampled_from(NAMES),
        st.lists(st.booleans(), max_size=20),
        st.sampled_from(["A", "AAAA", "SRV", "ANY", "TXT", "SOA"]),
        st.integers(0, 65535),
        st.booleans(),
        st.booleans(),
    )


def _query(name: str, rdtype: str, qid: int, edns: bool, rd: bool = True) -> bytes:
    message = dns.message.make_query(name, rdtype, use_edns=0 if edns else False)
    message.id = qid
    if not rd:
        message.flags &= ~dns.flags.RD
    return message.to_wire()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets=st.lists(st.one_of(questions(), questions(), mutations()), max_size=30))
def test_compiled_loop_replies_and_counts_like_the_pure_responder(packets: list[bytes]) -> None:
    twin = twin_responder()
    with compiled(TransportCounters()) as (served, pair):
        for packet in packets + packets:
            assert pair.exchange(packet) == twin.respond(packet, True)
        assert served.counters == twin.counters


def test_every_reply_is_timed_into_a_duration_bucket() -> None:
    counters = TransportCounters()
    with compiled(counters) as (_, pair):
        for _ in range(3):
            assert pair.exchange(_query("foo.global", "A", 1, True)) is not None
        assert pair.exchange(b"\x00" * 5) is None  # dropped: no reply, not timed
    assert sum(counters.udp_durations) == 3
    assert counters.udp_duration_sum > 0


def test_pure_python_is_forced_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(transport.PURE_PYTHON_ENV, "1")
    assert transport.compiled_udp() is None


# A memo entry whose slots are not the ones the compiled loop reads, set before it is imported.
RENAMED_SLOT = """
import globaldns.dns.memo as memo
class Recent:
    __slots__ = ("answer", "do", "head", "limit", "qend", "qtype", "tail")
memo.Recent = Recent
import globaldns.server._fastudp
"""


def test_the_compiled_loop_refuses_to_load_when_a_memo_slot_it_reads_is_renamed() -> None:
    run = subprocess.run(
        [sys.executable, "-c", RENAMED_SLOT],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "TypeError: globaldns.dns.memo.Recent.heads is not a slot" in run.stderr
