"""SPEC §5: a start-up error is one line naming the flag, key or file and the fix; exit 2."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import free_port
from tests.cli.test_cli import MESH, run

COMMANDS = ["serve", "table"]


def fails_in_one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line of stderr of a start that exited 2."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def start(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    ports = ("--listen", f"127.0.0.1:{free_port()}", "--admin", f"127.0.0.1:{free_port()}")
    return run(command, *args, *(ports if command == "serve" else ()))


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other process holds, for UDP and TCP alike."""
    port = free_port()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
    ):
        udp.bind(("127.0.0.1", port))
        tcp.bind(("127.0.0.1", port))
        tcp.listen()
        yield port


@pytest.mark.parametrize("busy", ["--listen", "--admin"])
def test_a_port_in_use_names_the_flag_and_the_fix(busy: str, busy_port: int) -> None:
    ports = {flag: f"127.0.0.1:{free_port()}" for flag in ("--listen", "--admin")}
    ports[busy] = f"127.0.0.1:{busy_port}"
    line = fails_in_one_line(run("serve", "--mesh", MESH, *(x for kv in ports.items() for x in kv)))
    assert f"{busy} 127.0.0.1:{busy_port}" in line
    assert "in use" in line and f"another {busy} HOST:PORT" in line


def test_unknown_log_level_lists_the_levels() -> None:
    result = run("serve", "--mesh", MESH, "--log-level", "verbose")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--log-level: invalid choice: 'verbose'" in result.stderr
    assert "'debug', 'info', 'warning', 'error'" in result.stderr


def test_unknown_log_level_in_the_environment_lists_the_levels() -> None:
    line = fails_in_one_line(run("table", "--mesh", MESH, env={"GLOBALDNS_LOG_LEVEL": "loud"}))
    assert "GLOBALDNS_LOG_LEVEL" in line and "debug, info, warning, error" in line


def test_ttl_above_rfc2181_limit_in_a_flag_names_the_flag() -> None:
    line = fails_in_one_line(run("table", "--mesh", MESH, "--ttl", "4294967296"))
    assert "flag --ttl" in line and "2147483647" in line and "RFC 2181" in line


def test_ttl_above_rfc2181_limit_in_the_config_file_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("ttl: 4294967296\n")
    line = fails_in_one_line(run("table", "--mesh", MESH, "--config", str(config)))
    assert f"{config}: ttl" in line and "2147483647" in line


def test_ttl_above_rfc2181_limit_in_the_mesh_file_names_file_and_key(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("ttl: 4294967296\n")
    line = fails_in_one_line(run("table", "--mesh", str(mesh)))
    assert f"{mesh}: ttl" in line and "2147483647" in line


@pytest.mark.parametrize("flag", ["--mesh", "--config", "--kubeconfig"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_that_is_not_utf8_text_names_the_file(
    command: str, flag: str, tmp_path: Path
) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01zone: global\n")
    args = [flag, str(binary)] + (["--mesh", MESH] if flag == "--config" else [])
    line = fails_in_one_line(start(command, *args))
    assert str(binary) in line and "not UTF-8 text" in line


def test_duplicate_key_in_the_mesh_file_names_the_key_and_line(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("clusters:\n  - {name: a}\nttl: 5\nclusters: []\n")
    line = fails_in_one_line(run("table", "--mesh", str(mesh)))
    assert str(mesh) in line
    assert "line 4" in line and "'clusters' appears twice (first on line 1)" in line


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_kubeconfig_names_the_file_and_the_fix(command: str, tmp_path: Path) -> None:
    line = fails_in_one_line(start(command, "--kubeconfig", str(tmp_path / "absent")))
    assert str(tmp_path / "absent") in line and "cannot read the kubeconfig" in line
    assert "give --kubeconfig PATH" in line


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("clusters: [unclosed\n", "not valid YAML"),
        ("apiVersion: v1\nkind: Config\nclusters: []\n", "no contexts"),
    ],
    ids=["not-yaml", "without-contexts"],
)
@pytest.mark.parametrize("command", COMMANDS)
def test_kubeconfig_that_is_not_yaml_or_without_contexts_names_the_file(
    command: str, content: str, problem: str, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(content)
    line = fails_in_one_line(start(command, "--kubeconfig", str(kubeconfig)))
    assert str(kubeconfig) in line and problem in line and "give --kubeconfig PATH" in line


@pytest.mark.parametrize("command", COMMANDS)
def test_local_cluster_naming_no_cluster_of_the_mesh_lists_the_ones_it_has(command: str) -> None:
    line = fails_in_one_line(start(command, "--mesh", MESH, "--local-cluster", "uswest9"))
    assert "'uswest9'" in line and "--local-cluster" in line
    assert "it has: uswest2, uswest1, useast2" in line


def test_an_empty_mesh_file_is_a_warning_not_silence(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("# nothing yet\n")
    result = run("table", "--mesh", str(mesh))
    assert result.returncode == 0
    assert "WARNING" in result.stderr and f"{mesh}: the mesh file is empty" in result.stderr


@pytest.mark.parametrize(
    ("values", "wrong"),
    [
        (["240.0.0.1", "240.0.0.2"], "at most one IPv4 address"),
        (["fd00::1", "fd00::2"], "at most one IPv6 address"),
        (["240.0.0.0/24"], "is not an IPv4 or IPv6 address"),
    ],
)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_default_address_names_the_flag(command: str, values: list[str], wrong: str) -> None:
    flags = [x for value in values for x in ("--default-address", value)]
    line = fails_in_one_line(start(command, "--mesh", MESH, *flags))
    assert "--default-address" in line and wrong in line
