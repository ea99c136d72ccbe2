"""`--listen [::]:PORT` serves IPv4 and IPv6 clients over both UDP and TCP (SPEC §3), and
`--admin [::]:PORT` serves HTTP to both (the kubelet probes the pod's IP, of either family)."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import pytest

from harness import GlobalDns, addresses, free_port
from harness.meshes import MESH


@pytest.fixture(scope="module")
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(MESH)
    srv.listen_host = "[::]"
    srv.admin_port = free_port()
    srv.args = ["--admin", f"[::]:{srv.admin_port}"]
    srv.start()
    yield srv
    srv.stop()


def query(name: str, address: str, port: int, tcp: bool) -> dns.message.Message:
    message = dns.message.make_query(name, "A")
    if tcp:
        return dns.query.tcp(message, address, port=port, timeout=2)
    return dns.query.udp(message, address, port=port, timeout=2)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_wildcard_ipv6_listen_answers_both_families(
    server: GlobalDns, address: str, tcp: bool
) -> None:
    assert addresses(query("foo.global", address, server.port, tcp)) == ["10.0.0.1"]


def test_ipv4_client_retries_a_truncated_answer_over_tcp(server: GlobalDns) -> None:
    truncated = query("big.global", "127.0.0.1", server.port, tcp=False)
    assert truncated.flags & dns.flags.TC
    whole = query("big.global", "127.0.0.1", server.port, tcp=True)
    assert len(addresses(whole)) == 100


def test_ipv4_client_sees_the_reply_from_the_address_it_asked(server: GlobalDns) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(dns.message.make_query("foo.global", "A").to_wire(), ("127.0.0.1", server.port))
        _, source = sock.recvfrom(4096)
    assert source == ("127.0.0.1", server.port)


@pytest.mark.parametrize("address", ["127.0.0.1", "[::1]"])
def test_wildcard_ipv6_admin_answers_both_families(server: GlobalDns, address: str) -> None:
    url = f"http://{address}:{server.admin_port}/health"
    with urllib.request.urlopen(url, timeout=2) as response:
        assert response.status == 200
