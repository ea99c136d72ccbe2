"""The command line: help, one precedence for settings, and errors that name the fix."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from globaldns.cli import build_parser
from harness import REPO

MESH = str(REPO / "examples" / "mesh.yaml")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GLOBALDNS_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "globaldns", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
        timeout=60,
    )


def config_file(tmp_path: Path, text: str) -> str:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    return str(config)


def zone_ttl(result: subprocess.CompletedProcess[str]) -> int:
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("$TTL"))
    return int(line.split()[1])


@pytest.mark.parametrize("command", ["serve", "table"])
def test_every_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    for flag in (
        "--mesh",
        "--kubeconfig",
        "--context",
        "--local-cluster",
        "--config",
        "--ttl",
        "--zone",
    ):
        assert flag in result.stdout


def test_serve_help_lists_listen_and_admin() -> None:
    out = run("serve", "--help").stdout
    assert "--listen" in out and "--admin" in out


def test_no_source_is_an_error_that_names_the_fix() -> None:
    result = run("table")
    assert result.returncode == 2
    assert "--mesh FILE" in result.stderr


def test_bad_flag_value_names_the_flag_and_the_expected_form() -> None:
    result = run("serve", "--mesh", MESH, "--listen", "localhost-53")
    assert result.returncode == 2
    assert "flag --listen" in result.stderr and "HOST:PORT" in result.stderr


def test_bad_environment_value_names_the_variable() -> None:
    result = run("table", "--mesh", MESH, env={"GLOBALDNS_TTL": "soon"})
    assert result.returncode == 2
    assert "GLOBALDNS_TTL" in result.stderr


def test_invalid_mesh_at_start_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "mesh.yaml"
    bad.write_text("clusters: [{name: a, gateways: [not-an-ip]}]\n")
    result = run("table", "--mesh", str(bad))
    assert result.returncode == 2
    assert f"{bad}: clusters[0].gateways[0]" in result.stderr


def test_unknown_config_file_key_is_rejected(tmp_path: Path) -> None:
    config = config_file(tmp_path, "tll: 30\n")
    result = run("table", "--mesh", MESH, "--config", config)
    assert result.returncode == 2
    assert "unknown key(s) ['tll']" in result.stderr


def test_mesh_file_sets_defaults(tmp_path: Path) -> None:
    assert zone_ttl(run("table", "--format", "zone", "--mesh", MESH)) == 5


def test_config_file_beats_the_mesh_file(tmp_path: Path) -> None:
    config = config_file(tmp_path, "ttl: 10\n")
    assert zone_ttl(run("table", "--format", "zone", "--mesh", MESH, "--config", config)) == 10


def test_environment_beats_the_config_file(tmp_path: Path) -> None:
    config = config_file(tmp_path, "ttl: 10\n")
    result = run(
        "table",
        "--format",
        "zone",
        "--mesh",
        MESH,
        "--config",
        config,
        env={"GLOBALDNS_TTL": "20"},
    )
    assert zone_ttl(result) == 20


def test_flag_beats_the_environment() -> None:
    result = run(
        "table", "--format", "zone", "--mesh", MESH, "--ttl", "30", env={"GLOBALDNS_TTL": "20"}
    )
    assert zone_ttl(result) == 30


def test_table_prints_name_type_tier_clusters_addresses_and_why() -> None:
    result = run("table", "--mesh", MESH)
    assert result.returncode == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "TYPE", "TIER", "CLUSTERS", "ADDRESSES", "WHY"]
    foo = next(row for row in rows if row.startswith("foo.global."))
    assert foo.split()[:5] == ["foo.global.", "A", "local", "uswest2", "10.222.0.10"]


def test_table_zone_format_is_a_zone_file_with_every_name() -> None:
    out = run("table", "--format", "zone", "--mesh", MESH).stdout
    assert out.startswith("$ORIGIN global.\n")
    assert "foo IN A 10.222.0.10" in out
    assert "_http._tcp.foo IN SRV 0 100 80 foo.global." in out
    assert "legacy.db IN A 240.0.0.2" in out


def options_of(command: str) -> list[argparse.Action]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [a for a in subparsers.choices[command]._actions if a.option_strings and a.help]


@pytest.mark.parametrize("command", ["serve", "table", "install", "uninstall"])
def test_every_flag_shows_its_default(command: str) -> None:
    missing = [a.option_strings[0] for a in options_of(command) if "default:" not in a.help]
    assert missing == ["-h"]


@pytest.mark.parametrize("command", ["serve", "table", "install", "uninstall", "compare"])
def test_every_flag_that_takes_a_value_has_a_metavar_or_choices(command: str) -> None:
    bare = [
        a.option_strings[0]
        for a in options_of(command)
        if a.nargs != 0 and a.metavar is None and a.choices is None
    ]
    assert bare == []


def test_help_shows_the_form_of_values() -> None:
    out = run("serve", "--help").stdout
    for form in ("--listen HOST:PORT", "--mesh FILE", "--lameduck SECONDS", "--ttl SECONDS"):
        assert form in out


def test_table_lists_only_the_flags_it_uses() -> None:
    out = run("table", "--help").stdout
    for flag in ("--listen", "--admin", "--lameduck", "--keep-wired", "--tcp-idle-timeout"):
        assert flag not in out


def test_serve_help_groups_its_flags() -> None:
    out = run("serve", "--help").stdout
    for group in ("sources:", "Kubernetes:", "DNS answers:", "logging:", "DNS server:",
                  "CoreDNS wiring:"):  # fmt: skip
        assert f"\n{group}\n" in out


def test_serve_help_ends_with_examples() -> None:
    out = run("serve", "--help").stdout
    examples = out[out.index("\nexamples:\n") :]
    assert "globaldns serve --mesh examples/mesh.yaml" in examples


def test_table_accepts_the_config_file_a_pod_runs_with(tmp_path: Path) -> None:
    config = config_file(tmp_path, "listen: 0.0.0.0:53\nadmin: 0.0.0.0:9153\nlameduck: 5\nttl: 7\n")
    assert zone_ttl(run("table", "--format", "zone", "--mesh", MESH, "--config", config)) == 7


def test_a_config_key_no_command_knows_is_rejected_by_every_command(tmp_path: Path) -> None:
    config = config_file(tmp_path, "listen: 0.0.0.0:53\nlamduck: 5\n")
    for command in ("serve", "table"):
        result = run(command, "--mesh", MESH, "--config", config)
        assert result.returncode == 2
        assert "unknown key(s) ['lamduck']" in result.stderr


def test_table_into_a_closed_pipe_ends_quietly() -> None:
    """`globaldns table | head -1`: a reader that stopped early costs no BrokenPipeError traceback.

    The pipe's read end is closed before the command starts, so its first write fails.
    """
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "globaldns", "table", "--mesh", "examples/mesh.yaml"],
            cwd=REPO,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
