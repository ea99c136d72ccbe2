"""A responder that raises costs one query and counts as a bug (globaldns_internal_errors_total),
not as a network error, on UDP (both loops) and TCP alike."""

from __future__ import annotations

import asyncio
import socket

import dns.message
import pytest

from globaldns.dns.responder import Responder
from globaldns.server import dns as transport
from globaldns.server.counters import TransportCounters
from tests.dns.test_robustness import responder

QUERY = dns.message.make_query("foo.global", "A").to_wire()


class Broken(Responder):
    def respond(self, data: bytes, udp: bool, seen: object = None) -> bytes | None:
        raise RuntimeError("a planted bug")


async def ask_broken(tcp: bool) -> TransportCounters:
    counters = TransportCounters()
    good = responder()
    udp_server, tcp_server = await transport.start(Broken(good.zone), "127.0.0.1", 0, counters)
    port = udp_server.address()[1]
    loop = asyncio.get_running_loop()
    if tcp:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(len(QUERY).to_bytes(2, "big") + QUERY)
        assert await asyncio.wait_for(reader.read(), 2) == b""  # closed, no answer
        writer.close()
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            await loop.sock_sendto(sock, QUERY, ("127.0.0.1", port))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.5)
    udp_server.close()
    tcp_server.close()
    await tcp_server.wait_closed()
    return counters


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_raising_responder_counts_a_bug_not_a_network_error(tcp: bool) -> None:
    counters = asyncio.run(ask_broken(tcp))
    assert (counters.bugs, counters.errors) == (1, 0)
