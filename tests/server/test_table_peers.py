"""SPEC §5: `/table` lists the whole mesh, so it answers loopback peers unless `--table-from`
names more.

The machine has only loopback, so no real peer here is outside 127.0.0.0/8 and ::1. Which
addresses count is a pure predicate, tested table-driven; over real sockets, loopback peers are
served by default (IPv4 and IPv6), and a server told `--table-from 127.0.0.2/32` refuses
127.0.0.1 and serves 127.0.0.2: the refusal and the flag, end to end, with peers that differ
only in the address the server sees.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
from pathlib import Path

import pytest

from globaldns.cli import build_parser
from globaldns.server.admin import Network, peer_allowed
from globaldns.settings import SERVER_OPTIONS, Settings, layers
from harness import GlobalDns
from harness.meshes import MESH
from tests.cli.test_cli import MESH as CLI_MESH
from tests.cli.test_cli import run

(LOOPBACK,) = (option.default for option in SERVER_OPTIONS if option.flag == "--table-from")
EVERYONE: tuple[Network, ...] = (
    ipaddress.ip_network("0.0.0.0/0"),
    ipaddress.ip_network("::/0"),
)
ONLY_127_0_0_1: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.mark.parametrize(
    ("remote", "networks", "allowed"),
    [
        ("127.0.0.1", LOOPBACK, True),
        ("127.42.0.9", LOOPBACK, True),
        ("::1", LOOPBACK, True),
        ("::ffff:127.0.0.1", LOOPBACK, True),  # an IPv4 peer of a dual-stack socket
        ("10.244.1.7", LOOPBACK, False),  # a pod
        ("::ffff:10.244.1.7", LOOPBACK, False),
        ("192.168.0.1", LOOPBACK, False),
        ("2001:db8::1", LOOPBACK, False),
        ("fe80::1%eth0", LOOPBACK, False),
        ("::", LOOPBACK, False),
        ("0.0.0.0", LOOPBACK, False),
        (None, LOOPBACK, False),  # no address (not an IP socket)
        ("not-an-address", LOOPBACK, False),
        ("10.244.1.7", EVERYONE, True),
        ("2001:db8::1", EVERYONE, True),
        ("::ffff:10.244.1.7", EVERYONE, True),
        ("127.0.0.2", ONLY_127_0_0_1, False),
        ("127.0.0.1", ONLY_127_0_0_1, True),
        ("10.244.1.7", (), False),
    ],
)
def test_peer_is_allowed_only_from_the_given_networks(
    remote: str | None, networks: tuple[Network, ...], allowed: bool
) -> None:
    assert peer_allowed(remote, networks) is allowed


def get_table(host: str, port: int, source: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    """GET /table from `source` (a local address to send from), as the server sees it."""
    conn = http.client.HTTPConnection(
        host, port, timeout=5, source_address=(source, 0) if source else None
    )
    try:
        conn.request("GET", "/table")
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_table_answers_an_ipv4_loopback_peer_by_default() -> None:
    server = GlobalDns(MESH).start()
    try:
        status, document = get_table("127.0.0.1", server.admin_port)
        assert status == 200 and document["names"]
    finally:
        server.stop()


def test_table_answers_an_ipv6_loopback_peer_by_default() -> None:
    server = GlobalDns(MESH)
    server.admin_host = "::1"
    server.start()
    try:
        status, document = get_table("::1", server.admin_port)
        assert status == 200 and document["names"]
    finally:
        server.stop()


def test_table_refuses_a_peer_outside_table_from_naming_the_flag() -> None:
    server = GlobalDns(MESH, args=["--table-from", "127.0.0.2/32"]).start()
    try:
        status, document = get_table("127.0.0.1", server.admin_port, source="127.0.0.1")
        assert status == 403
        assert "--table-from" in document["error"] and "127.0.0.1" in document["error"]
        assert server.http("/metrics")[0] == 200 and server.http("/ready")[0] == 200
    finally:
        server.stop()


def test_table_answers_a_peer_the_flag_names() -> None:
    server = GlobalDns(MESH, args=["--table-from", "127.0.0.2/32"]).start()
    try:
        status, document = get_table("127.0.0.1", server.admin_port, source="127.0.0.2")
        assert status == 200 and document["names"]
    finally:
        server.stop()


def table_from(argv: list[str], environ: dict[str, str]) -> tuple[Network, ...]:
    args = build_parser().parse_args(["serve", *argv])
    networks: tuple[Network, ...] = layers(args, environ).build(Settings).server.table_from
    return networks


def test_table_from_is_a_flag_an_environment_variable_and_a_config_file_key(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("tableFrom: [10.0.0.0/8, 'fd00::/8']\n")
    from_file = table_from(["--config", str(config)], {})
    from_env = table_from([], {"GLOBALDNS_TABLE_FROM": "0.0.0.0/0,::/0"})
    from_flag = table_from(["--table-from", "192.0.2.7"], {})
    assert [str(n) for n in from_file] == ["10.0.0.0/8", "fd00::/8"]
    assert from_env == EVERYONE
    assert [str(n) for n in from_flag] == ["192.0.2.7/32"]
    assert table_from([], {}) == LOOPBACK


def test_a_table_from_network_with_host_bits_is_a_start_up_error_naming_the_flag() -> None:
    result = run("serve", "--mesh", CLI_MESH, "--table-from", "10.0.0.1/8")
    assert result.returncode == 2
    assert "flag --table-from" in result.stderr and "host bits" in result.stderr
