"""The compiled UDP loop answers every packet exactly as the pure responder does.

In process: the same packets go to a responder behind the compiled loop (over a real socket)
and to a twin responder called directly; replies and counters must be equal, byte for byte.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import dns.flags
import dns.message
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from globaldns.dns.memo import Recent
from globaldns.dns.responder import Responder
from globaldns.dns.zone import ZoneConfig
from globaldns.server import dns as transport
from globaldns.server.counters import BOUNDS_NS, TransportCounters
from globaldns.sources import mesh as mesh_source
from globaldns.table.table import Table
from harness.meshes import MESH
from tests.dns.test_robustness import mutations

FastUdp = transport.compiled_udp()
pytestmark = pytest.mark.skipif(
    FastUdp is None, reason="the compiled UDP loop is not built (or GLOBALDNS_PURE_PYTHON=1)"
)


def _service(name: str, instances: dict[str, list[str]], ports: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        **({"ports": [{"name": "http", "port": 80}]} if ports else {}),
        "instances": {
            cluster: {"addresses": addresses, "ready": 1}
            for cluster, addresses in instances.items()
        },
    }


# The shared test mesh and every answer kind that rotates: three addresses (`pool`), forty
# (`wide`: fits 1232 bytes, not 512), and remote gateways in two groups, the local region's
# first (`away`: each group rotates within itself; IPv4 and IPv6). `pool` and `wide` have SRV.
ROTATING = {
    **MESH,
    "clusters": [
        *MESH["clusters"],
        {"name": "b", "region": "r", "gateways": ["192.0.2.11", "192.0.2.12", "2001:db8::b"]},
        {"name": "c", "region": "s", "gateways": ["198.51.100.1", "198.51.100.2", "2001:db8::c"]},
    ],
    "services": [
        *MESH["services"],
        _service("pool", {"a": ["10.2.0.1", "10.2.0.2", "10.2.0.3"]}, ports=True),
        _service("wide", {"a": [f"10.3.0.{i}" for i in range(1, 41)]}, ports=True),
        _service("away", {"b": ["10.4.0.1"], "c": ["10.5.0.1"]}),
    ],
}
NAMES = [
    "foo.global",
    "httpbin.bar.global",
    "big.global",
    "pool.global",
    "wide.global",
    "away.global",
    "_http._tcp.wide.global",
    "nope.global",
    "global",
    "x.org",
]


DEFAULT = ZoneConfig()


def twin_responder(config: ZoneConfig = DEFAULT) -> Responder:
    """A responder over its own zone; every one made here has the same SOA serial."""
    with mock.patch("time.time", return_value=1_800_000_000.0):
        table = Table(config, local_cluster="a")
        mesh_source.apply(mesh_source.parse(ROTATING, "test"), None, table)
        return Responder(table.zone)


@contextmanager
def compiled(
    counters: TransportCounters, config: ZoneConfig = DEFAULT
) -> Iterator[tuple[Responder, Pair]]:
    served = twin_responder(config)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.setblocking(False)
        assert FastUdp is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.connect(server.getsockname())
            client.setblocking(False)
            pair = Pair(client)
            pair.loop = FastUdp(
                server.fileno(), served, pair.respond_with(served), counters, BOUNDS_NS
            )
            yield served, pair


class Pair:
    """A client socket and the compiled loop it talks to, driven one packet at a time; counts
    the packets the loop handed to Python (`entered_python`)."""

    def __init__(self, client: socket.socket) -> None:
        self.loop: Any = None
        self.client = client
        self.entered_python = 0

    def respond_with(self, served: Responder) -> Callable[[bytes, Recent | None], bytes | None]:
        def respond(data: bytes, seen: Recent | None) -> bytes | None:
            self.entered_python += 1
            return served.respond(data, True, seen)

        return respond

    def exchange(self, packet: bytes) -> bytes | None:
        self.client.send(packet)
        self.loop.drain()
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
        lambda name, upper, rdtype, qid, edns, rd: query(
            spelled(name, upper), rdtype, qid, edns, rd
        ),
        st.sampled_from(NAMES),
        st.lists(st.booleans(), max_size=20),
        st.sampled_from(["A", "AAAA", "SRV", "ANY", "TXT", "SOA"]),
        st.integers(0, 65535),
        st.booleans(),
        st.booleans(),
    )


def query(name: str, rdtype: str, qid: int, edns: bool, rd: bool = True) -> bytes:
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
            assert pair.exchange(query("foo.global", "A", 1, True)) is not None
        assert pair.exchange(b"\x00" * 5) is None  # dropped: no reply, not timed
    assert sum(counters.udp_durations) == 3
    assert counters.udp_duration_sum > 0


def test_pure_python_is_forced_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(transport.PURE_PYTHON_ENV, "1")
    assert transport.compiled_udp() is None


# A class whose slots are not the ones the compiled loop reads, set before it is imported.
RENAMED_SLOT = """
import globaldns.dns.{module} as module
class {name}:
    __slots__ = {slots!r}
module.{name} = {name}
import globaldns.server._fastudp
"""


@pytest.mark.parametrize(
    ("module", "name", "slots", "missing"),
    [
        ("memo", "Recent", ("answer", "do", "head", "limit", "qend", "qtype", "tail"), "heads"),
        ("answer", "Answer", ("flags", "rcode", "sections", "tier", "turn", "turned"), "turns"),
        ("answer", "Turns", ("records", "counts", "size", "step", "kept"), "steps"),
        ("answer", "Sections", ("head", "edns_head", "body", "fallback"), "without_additional"),
    ],
)
def test_the_compiled_loop_refuses_to_load_when_a_slot_it_reads_is_renamed(
    module: str, name: str, slots: tuple[str, ...], missing: str
) -> None:
    source = RENAMED_SLOT.format(module=module, name=name, slots=slots)
    run = subprocess.run(
        [sys.executable, "-c", source],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"TypeError: globaldns.dns.{module}.{name}.{missing} is not a slot" in run.stderr
