"""SPEC §3: UDP replies are never fragmented by the sender (IPv4 PMTU discovery off, IPv6 MTU
1280, as NSD sets them) and leave from the address the query came to, on wildcard listeners."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import dns.message
import pytest

from globaldns.listeners import queries_waiting
from globaldns.server import dns as transport
from harness import GlobalDns, wait_for
from harness.meshes import MESH
from tests.dns import udp_loops
from tests.dns.udp_loops import UDP_LOOPS

QUERY = dns.message.make_query("foo.global", "A").to_wire()


@pytest.fixture
def udp4() -> Iterator[socket.socket]:
    sock = transport.bind("127.0.0.1", 0, socket.SOCK_DGRAM)
    yield sock
    sock.close()


@pytest.fixture
def udp6() -> Iterator[socket.socket]:
    sock = transport.bind("::", 0, socket.SOCK_DGRAM)
    yield sock
    sock.close()


def test_ipv4_replies_ignore_path_mtu_discovery(udp4: socket.socket) -> None:
    mode = udp4.getsockopt(socket.IPPROTO_IP, transport.IP_MTU_DISCOVER)
    assert mode == transport.IP_PMTUDISC_OMIT


def test_ipv4_clients_of_a_dual_stack_socket_get_the_same(udp6: socket.socket) -> None:
    mode = udp6.getsockopt(socket.IPPROTO_IP, transport.IP_MTU_DISCOVER)
    assert mode == transport.IP_PMTUDISC_OMIT


def test_ipv6_replies_may_be_fragmented_by_the_sender(udp6: socket.socket) -> None:
    assert udp6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_DONTFRAG) == 0


def test_ipv6_replies_are_cut_at_the_minimum_mtu(udp6: socket.socket) -> None:
    """IPV6_MTU cannot be read back on Linux; with DONTFRAG on for the test, a datagram over
    1280 bytes on the wire is refused where loopback's own MTU (65536) would carry it."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as peer:
        peer.bind(("::1", 0))
        udp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DONTFRAG, 1)
        udp6.sendto(b"x" * (1280 - 48), peer.getsockname())  # IPv6 + UDP headers: 48 bytes
        with pytest.raises(OSError) as raised:
            udp6.sendto(b"x" * (1280 - 47), peer.getsockname())
        assert raised.value.errno == errno.EMSGSIZE


@pytest.fixture(
    scope="module",
    params=[(loop, host) for loop in UDP_LOOPS for host in ("0.0.0.0", "[::]")],
    ids=str,
)
def wildcard(request: pytest.FixtureRequest) -> Iterator[GlobalDns]:
    loop, host = request.param
    server = GlobalDns(MESH)
    server.listen_host = host
    udp_loops.start(server, loop)
    yield server
    server.stop()


@pytest.mark.parametrize("address", ["127.0.0.2", "127.0.0.1"])
def test_a_wildcard_listener_replies_from_the_address_queried(
    wildcard: GlobalDns, address: str
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(2)
        client.bind(("127.0.0.1", 0))  # the route to us would pick 127.0.0.1 as the source
        client.sendto(QUERY, (address, wildcard.port))
        assert client.recvfrom(65535)[1] == (address, wildcard.port)
        client.connect((address, wildcard.port))  # a connected client takes only that source
        client.send(QUERY)
        assert client.recv(65535)[:2] == QUERY[:2]


def test_a_dual_stack_listener_replies_to_ipv6_from_the_address_queried(
    wildcard: GlobalDns,
) -> None:
    if wildcard.listen_host != "[::]":
        pytest.skip("IPv6 clients reach only the dual-stack listener")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as client:
        client.settimeout(2)
        client.sendto(QUERY, ("::1", wildcard.port))
        reply, source = client.recvfrom(65535)
        assert source[:2] == ("::1", wildcard.port) and reply[:2] == QUERY[:2]


def test_a_query_waiting_on_a_dns_socket_is_seen_without_reading_it(udp4: socket.socket) -> None:
    waiting = queries_waiting([udp4])
    assert not waiting()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto(QUERY, udp4.getsockname())
        wait_for(waiting, 5)
        assert waiting()  # asking does not consume it
        udp4.recv(512)
    assert not waiting()
