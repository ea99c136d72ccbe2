"""Settings are read once into frozen types: one precedence for every field (flag, environment,
config file, mesh file, default), and one declared list of config-file keys for every command."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from globaldns.cli import build_parser, main
from globaldns.config import ConfigError, Layers
from globaldns.config.option import OPTION, PART, SECTION, options_of
from globaldns.install import command as install_command
from globaldns.install.settings import InstallSettings, RemoteSecretSettings
from globaldns.settings import DECLARED_KEYS, Settings, layers
from globaldns.settings import options_of as command_options

PARSER = build_parser()


def read(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    return layers(PARSER.parse_args(argv), environ or {}).build(Settings)


@dataclass(frozen=True)
class Given:
    """Where one setting is given, and what the settings read."""

    flag: str | None
    env: str | None
    file: str | None
    mesh: str | None
    wins: str


PRECEDENCE = [
    Given("7", "8", "9", "10", wins="7"),
    Given(None, "8", "9", "10", wins="8"),
    Given(None, None, "9", "10", wins="9"),
    Given(None, None, None, "10", wins="10"),
    Given(None, None, None, None, wins="5"),
    Given("7", None, "9", None, wins="7"),
    Given(None, "8", None, "10", wins="8"),
]


def layered(given: Given, key: str, flag: str, tmp_path: Path) -> Layers:
    config = tmp_path / "config.yaml"
    config.write_text(f"{key}: {given.file}\n" if given.file is not None else "{}\n")
    argv = ["table", "--config", str(config)]
    argv += [flag, given.flag] if given.flag is not None else []
    env = {f"GLOBALDNS_{key.upper()}": given.env} if given.env is not None else {}
    mesh = {key: int(given.mesh)} if given.mesh is not None else {}
    return layers(PARSER.parse_args(argv), env).with_mesh(mesh)


@pytest.mark.parametrize("given", PRECEDENCE)
def test_a_flag_beats_the_environment_beats_the_file_beats_the_mesh_beats_the_default(
    given: Given, tmp_path: Path
) -> None:
    settings = layered(given, "ttl", "--ttl", tmp_path).build(Settings)
    assert settings.answers.ttl == int(given.wins)


@pytest.mark.parametrize("given", PRECEDENCE)
def test_every_settings_type_reading_an_option_reads_the_same_value(
    given: Given, tmp_path: Path
) -> None:
    settings = layered(given, "ttl", "--ttl", tmp_path).build(Settings)
    assert settings.wiring.ttl == settings.answers.ttl == int(given.wins)


@pytest.mark.parametrize(
    ("argv", "environ", "read_as"),
    [
        (["--gateway-probe-interval", "3"], {}, lambda s: s.probes.interval == 3.0),
        ([], {"GLOBALDNS_SERVE_STALE": "9"}, lambda s: s.kube.serve_stale == 9.0),
        (["--zone", "Mesh."], {}, lambda s: s.kube.selection.zone == "mesh"),
        (
            [],
            {"GLOBALDNS_EXCLUDE_NAMESPACE": "a,b"},
            lambda s: s.kube.selection.exclude_namespaces == {"a", "b"},
        ),
        (["--rrl-rate", "10"], {}, lambda s: s.server.rrl.rate == 10 and s.server.rrl.on),
        (["--watch-liveness", "0.1"], {}, lambda s: s.kube.liveness == 0.5),
        ([], {"GLOBALDNS_KEEP_WIRED": "yes"}, lambda s: s.wiring.keep_wired),
    ],
)
def test_each_subsystem_reads_its_own_part(
    argv: list[str], environ: dict[str, str], read_as: Any
) -> None:
    assert read_as(read(["serve", *argv], environ))


def test_a_bad_value_names_where_it_came_from(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("gatewayProbeTimeout: 0\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(config))}: gatewayProbeTimeout: must"):
        read(["serve", "--config", str(config)])


def test_table_ignores_what_only_serve_reads() -> None:
    settings = read(["table"], {"GLOBALDNS_LISTEN": "not an address", "GLOBALDNS_LAMEDUCK": "9"})
    assert settings.server == Settings().server


# The keys of a config file: every command's are accepted by every command; others are typos.
KEYS = [
    ("listen: 0.0.0.0:53", None),  # serve's
    ("contexts: all", None),  # install's
    ("name: east", None),  # remote-secret's
    ("kubernetes: {clusters: {}}", None),  # the section
    ("lamduck: 5", "unknown key(s) ['lamduck']"),
    ("gateway_probe_port: 1", "unknown key(s) ['gateway_probe_port']"),  # not camelCase
]


@pytest.mark.parametrize(("line", "refused"), KEYS)
@pytest.mark.parametrize("command", ["serve", "table", "install", "uninstall", "remote-secret"])
def test_a_config_file_key_is_accepted_when_some_command_declares_it(
    command: str, line: str, refused: str | None, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(line + "\n")
    args, environ = PARSER.parse_args([command]), {"GLOBALDNS_CONFIG": str(config)}
    if refused is None:
        layers(args, environ)
    else:
        with pytest.raises(ConfigError, match=re.escape(f"{config}: {refused}; known: [")):
            layers(args, environ)


def test_the_declared_keys_do_not_depend_on_which_parsers_were_built(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("listen: 0.0.0.0:53\nttl: 7\n")
    only_install = argparse.ArgumentParser()
    install_command.add_parsers(only_install.add_subparsers(dest="command"))
    args = only_install.parse_args(["install", "--config", str(config)])
    assert layers(args, {}).build(InstallSettings).ttl == 7


def test_every_command_option_is_a_declared_key() -> None:
    for command in ("serve", "table", "install", "uninstall", "remote-secret"):
        assert {option.key for option in command_options(command)} <= DECLARED_KEYS


def test_serve_reads_every_option_it_offers_and_offers_every_option_it_reads() -> None:
    assert set(options_of(Settings)) == set(command_options("serve"))


@pytest.mark.parametrize(
    ("kind", "commands"),
    [
        (Settings, ["serve"]),
        (InstallSettings, ["install"]),
        (RemoteSecretSettings, ["remote-secret"]),
    ],
)
def test_every_settings_field_is_read_from_an_option_a_part_or_a_section(
    kind: type[Any], commands: list[str]
) -> None:
    offered = {option for command in commands for option in command_options(command)}
    kinds = [kind]
    while kinds:
        for spec in fields(kinds.pop()):
            assert {OPTION, PART, SECTION} & set(spec.metadata), spec.name
            if OPTION in spec.metadata:
                assert spec.metadata[OPTION] in offered, spec.name
            if PART in spec.metadata:
                kinds.append(spec.metadata[PART])


def test_a_bad_value_fails_at_start_even_where_no_settings_field_reads_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GLOBALDNS_LOG_LEVEL", "loud")  # install offers --log-level, reads none
    assert main(["uninstall"]) == 2
    assert "environment GLOBALDNS_LOG_LEVEL: 'loud' is not one of" in capsys.readouterr().err
