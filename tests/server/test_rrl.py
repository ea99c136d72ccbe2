"""SPEC §3: response-rate limiting per source network and answer (as NSD and Knot do it), off
by default; past the rate a flooding source gets every Nth reply truncated and no more."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import pytest

from globaldns.server.rrl import RateLimiter, RrlSettings
from harness import GlobalDns
from harness.meshes import MESH

RATE = 10


@pytest.fixture(scope="module")
def limited() -> Iterator[GlobalDns]:
    server = GlobalDns(MESH, args=["--rrl-rate", str(RATE), "--rrl-slip", "2"]).start()
    yield server
    server.stop()


def flood(
    port: int, names: list[str], source: str = "127.0.0.1", rdtype: str = "A"
) -> tuple[int, int]:
    """Send one query per name at once from `source`; count full and truncated replies."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind((source, 0))
        client.settimeout(0.5)
        for name in names:
            client.sendto(dns.message.make_query(name, rdtype).to_wire(), ("127.0.0.1", port))
        full = truncated = 0
        try:
            while True:
                reply = dns.message.from_wire(client.recv(65535))
                if reply.flags & dns.flags.TC:
                    truncated += 1
                else:
                    full += 1
        except TimeoutError:
            return full, truncated


def test_rate_limiting_is_off_by_default() -> None:
    server = GlobalDns(MESH).start()
    try:
        assert flood(server.port, ["foo.global"] * 200) == (200, 0)
        assert server.metric('globaldns_rrl_limited_replies_total{action="dropped"}') == 0
    finally:
        server.stop()


def test_a_flooding_source_gets_the_rate_then_every_second_reply_truncated(
    limited: GlobalDns,
) -> None:
    dropped = limited.metric('globaldns_rrl_limited_replies_total{action="dropped"}')
    full, truncated = flood(limited.port, ["httpbin.bar.global"] * 200)
    assert RATE <= full <= RATE + 3  # the bucket's burst, and what refills meanwhile
    assert abs(truncated - (200 - full) / 2) <= 2  # slip 2: half of the rest, truncated
    after = limited.metric('globaldns_rrl_limited_replies_total{action="dropped"}')
    assert after - dropped == 200 - full - truncated


def test_made_up_names_share_one_nxdomain_budget(limited: GlobalDns) -> None:
    names = [f"{uuid.uuid4().hex}.global" for _ in range(100)]
    full, _ = flood(limited.port, names)
    assert full <= RATE + 3


def test_another_source_network_has_its_own_budget(limited: GlobalDns) -> None:
    flood(limited.port, ["foo.global"] * 100, rdtype="TXT")
    assert flood(limited.port, ["foo.global"] * RATE, "127.0.1.1", "TXT") == (RATE, 0)


def test_another_answer_has_its_own_budget(limited: GlobalDns) -> None:
    flood(limited.port, ["foo.global"] * 100, rdtype="MX")
    assert flood(limited.port, ["foo.global"] * RATE, rdtype="SRV") == (RATE, 0)


def test_tcp_is_never_limited(limited: GlobalDns) -> None:
    flood(limited.port, ["foo.global"] * 100)
    for _ in range(3 * RATE):
        query = dns.message.make_query("foo.global", "A")
        reply = dns.query.tcp(query, "127.0.0.1", port=limited.port, timeout=2)
        assert reply.answer and not reply.flags & dns.flags.TC


def test_a_client_below_the_rate_is_never_limited(limited: GlobalDns) -> None:
    """A resolver asking one name at half the rate, for 2 seconds, gets every answer whole."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.2.1", 0))
        client.settimeout(1)
        for _ in range(RATE):
            client.sendto(
                dns.message.make_query("foo.global", "A").to_wire(), ("127.0.0.1", limited.port)
            )
            reply = dns.message.from_wire(client.recv(65535))
            assert reply.answer and not reply.flags & dns.flags.TC
            time.sleep(2 / RATE)


def test_source_networks_are_slash_24_and_slash_56_and_mapped_ipv4_is_ipv4() -> None:
    limiter = RateLimiter(RrlSettings(rate=1), [0, 0, 0])
    assert limiter.prefix("10.1.2.3") == limiter.prefix("10.1.2.200")
    assert limiter.prefix("10.1.2.3") != limiter.prefix("10.1.3.3")
    assert limiter.prefix("::ffff:10.1.2.3") == limiter.prefix("10.1.2.9")
    assert limiter.prefix("2001:db8:0:ff::1") == limiter.prefix("2001:db8:0:aa::2")
    assert limiter.prefix("2001:db8:0:100::1") != limiter.prefix("2001:db8::1")
    assert limiter.prefix("::10.1.2.3") != limiter.prefix("10.1.2.3")
