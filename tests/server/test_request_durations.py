"""The transports time every answered query into plain-integer duration buckets."""

from __future__ import annotations

import asyncio
import socket

import dns.message
import dns.query

from globaldns.server import dns as transport
from globaldns.server.counters import DURATION_BUCKETS, TransportCounters
from tests.dns.test_robustness import responder

QUERY = dns.message.make_query("foo.global", "A").to_wire()


async def serve_and_ask(udp: int, tcp: int) -> TransportCounters:
    """Start both transports on 127.0.0.1, send `udp` and `tcp` queries, stop them."""
    counters = TransportCounters()
    udp_server, tcp_server = await transport.start(responder(), "127.0.0.1", 0, counters)
    port = udp_server.address()[1]
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for _ in range(udp):
            await loop.sock_sendto(sock, QUERY, ("127.0.0.1", port))
            await asyncio.wait_for(loop.sock_recv(sock, 4096), 2)
    for _ in range(tcp):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(len(QUERY).to_bytes(2, "big") + QUERY)
        size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), 2), "big")
        await reader.readexactly(size)
        writer.close()
    udp_server.close()
    tcp_server.close()
    await tcp_server.wait_closed()
    return counters


def test_every_answered_query_lands_in_one_bucket_per_protocol() -> None:
    counters = asyncio.run(serve_and_ask(udp=5, tcp=3))
    assert sum(counters.udp_durations) == 5
    assert sum(counters.tcp_durations) == 3
    assert len(counters.udp_durations) == len(DURATION_BUCKETS) + 1  # +Inf last


def test_duration_sums_are_seconds_within_the_buckets_they_filled() -> None:
    counters = asyncio.run(serve_and_ask(udp=4, tcp=2))
    slowest = max(i for i, n in enumerate(counters.udp_durations) if n)
    assert 0 < counters.udp_duration_sum <= 4 * DURATION_BUCKETS[slowest]
    assert 0 < counters.tcp_duration_sum < 2 * 8.192
