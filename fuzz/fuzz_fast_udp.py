"""Fuzz the compiled UDP loop against the pure responder: the same bytes, the same reply.

`globaldns/server/_fastudp.c` answers from a socket, so it is driven in process over loopback:
each input is sent to a socket the compiled loop drains, and handed to a twin responder over
its own zone, compiled alike (same mesh, same SOA serial). Each input goes twice, so the second
is answered from the memo, which the C code reads itself. The replies must be equal byte for
byte (or both absent), and so must the counters. atheris instruments only Python, so coverage
here is that of the responder behind the loop; the C code is checked by the comparison.
"""

from __future__ import annotations

import socket
import sys
from unittest import mock

import atheris

with atheris.instrument_imports(include=["globaldns"]):
    from globaldns.dns.responder import Responder
    from globaldns.server import dns as transport
    from globaldns.server.counters import BOUNDS_NS, TransportCounters

import fuzz_responder

FastUdp = transport.compiled_udp()
MAX_DATAGRAM = 65507  # the largest UDP payload over IPv4
FULL_COUNTER_CHECK = 4096  # compare the 65,536 per-type counters this often


def twin() -> Responder:
    """A responder over its own zone; every one made here has the same SOA serial."""
    with mock.patch("time.time", return_value=1_800_000_000.0):
        return fuzz_responder.build()


class Compiled:
    """The compiled loop on a loopback socket, and a connected client, one packet at a time."""

    def __init__(self) -> None:
        assert FastUdp is not None, "the compiled UDP loop is not built"
        self.responder = twin()
        self.server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.setblocking(False)
        self.loop = FastUdp(
            self.server.fileno(),
            self.responder,
            lambda data, seen: self.responder.respond(data, True, seen),
            TransportCounters(),
            BOUNDS_NS,
        )
        self.client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client.connect(self.server.getsockname())
        self.client.setblocking(False)

    def exchange(self, packet: bytes) -> bytes | None:
        self.client.send(packet)
        self.loop.drain()
        try:
            return self.client.recv(65535)
        except BlockingIOError:
            return None


COMPILED = Compiled()
PURE = twin()
runs = 0


def TestOneInput(data: bytes) -> None:
    global runs
    packet = data[:MAX_DATAGRAM]
    for _ in range(2):
        assert COMPILED.exchange(packet) == PURE.respond(packet, True), "the replies differ"
    served, twin_counters = COMPILED.responder.counters, PURE.counters
    assert (served.by_rcode, served.by_tier, served.dropped, served.truncated) == (
        twin_counters.by_rcode,
        twin_counters.by_tier,
        twin_counters.dropped,
        twin_counters.truncated,
    ), "the counters differ"
    runs += 1
    if runs % FULL_COUNTER_CHECK == 0:
        assert served.by_type == twin_counters.by_type, "the per-type counters differ"


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
