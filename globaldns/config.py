"""Settings from flags, environment and a config file, with one precedence, checked at start.

Precedence, strongest first: command-line flag, environment variable `GLOBALDNS_<FLAG>`,
config file (`--config`, YAML, keys in camelCase), the mesh file's own `zone`/`ttl`/
`localCluster`, then the defaults. Every option is declared once in `OPTIONS`; argparse, the
environment and the config file are all derived from that list.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from globaldns.errors import GlobalDnsError

ENV_PREFIX = "GLOBALDNS_"


class ConfigError(GlobalDnsError, ValueError):
    """A setting is invalid; the message names the setting, where it came from, and the fix."""


def host_port(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT` or `:PORT` (all addresses)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:5353 or [::1]:53)")
    host = host.strip("[]") or "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"{host!r} in {value!r} is not an IP address") from None
    return host, int(port)


def seconds(value: str | int | float) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(f"{value!r} must be >= 0 seconds")
    return number


def whole(value: str | int) -> int:
    if isinstance(value, bool) or not str(value).strip().isdigit():
        raise ValueError(f"{value!r} is not a whole number >= 0")
    return int(value)


def positive(value: str | int) -> int:
    number = whole(value)
    if number == 0:
        raise ValueError("must be at least 1")
    return number


def zone_name(value: str) -> str:
    name = str(value).strip(".").lower()
    if not name or any(not part or len(part) > 63 for part in name.split(".")):
        raise ValueError(f"{value!r} is not a DNS zone name such as 'global'")
    return name


def flag(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not true or false")


def path(value: str) -> Path:
    return Path(value).expanduser()


def text(value: str) -> str:
    return str(value)


@dataclass(frozen=True)
class Option:
    """One setting: its flag, its config-file key, how to read it, and its default."""

    flag: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    repeatable: bool = False
    switch: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()

    @property
    def key(self) -> str:
        head, *rest = self.dest.split("_")
        return head + "".join(part.capitalize() for part in rest)


SOURCE_OPTIONS = (
    Option("--config", path, None, "YAML config file (keys are the flags in camelCase)"),
    Option("--mesh", path, None, "static mesh file (YAML); re-read when it changes"),
    Option("--kubeconfig", path, None, "kubeconfig whose contexts are the mesh's clusters"),
    Option(
        "--context",
        text,
        (),
        "kubeconfig context to use (repeatable; default: all)",
        repeatable=True,
    ),
    Option("--local-cluster", text, None, "name of the cluster this server runs in"),
    Option("--zone", zone_name, "global", "zone served"),
    Option("--ttl", whole, 5, "TTL of answers and of negative answers (SOA minimum), seconds"),
    Option("--max-answers", positive, None, "cap on records of one type in an answer"),
    Option("--log-level", text, "info", "debug, info, warning or error"),
)

SERVE_OPTIONS = (
    Option("--listen", host_port, ("0.0.0.0", 53), "DNS address, UDP and TCP (HOST:PORT)"),
    Option("--admin", host_port, ("0.0.0.0", 9153), "HTTP address for /metrics /health /ready"),
    Option("--tcp-idle-timeout", seconds, 10.0, "seconds before an idle TCP client is closed"),
    Option("--tcp-max-connections", positive, 1000, "concurrent TCP connections accepted"),
    Option(
        "--keep-wired", flag, False, "put the CoreDNS global block back if removed", switch=True
    ),
)


def add_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    """Flags default to None so that an unset flag lets the environment or file decide."""
    for option in options:
        if option.switch:
            parser.add_argument(option.flag, action="store_true", default=None, help=option.help)
        elif option.repeatable:
            parser.add_argument(option.flag, action="append", default=None, help=option.help)
        else:
            parser.add_argument(option.flag, default=None, help=f"{option.help} (env {option.env})")


def resolve(
    args: argparse.Namespace,
    options: Sequence[Option],
    environ: Mapping[str, str] = os.environ,
    mesh_defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge flags, environment, config file, mesh defaults and defaults; validate each value."""
    config_path = getattr(args, "config", None) or environ.get(ENV_PREFIX + "CONFIG")
    file_values = load_file(path(config_path)) if config_path else {}
    known = {option.key for option in options}
    unknown = sorted(set(file_values) - known - {"kubernetes"})
    if unknown:
        raise ConfigError(f"{config_path}: unknown key(s) {unknown}; known: {sorted(known)}")
    settings: dict[str, Any] = {"kubernetes": file_values.get("kubernetes") or {}}
    for option in options:
        candidates = (
            ("flag " + option.flag, getattr(args, option.dest, None)),
            ("environment " + option.env, environ.get(option.env)),
            (f"{config_path}: {option.key}", file_values.get(option.key)),
            (f"the mesh file's {option.key}", (mesh_defaults or {}).get(option.key)),
        )
        value = option.default
        for origin, raw in candidates:
            if raw is None:
                continue
            try:
                value = _parse(option, raw)
            except (ValueError, TypeError) as err:
                raise ConfigError(f"{origin}: {err}") from err
            break
        settings[option.dest] = value
    return settings


def _parse(option: Option, raw: Any) -> Any:
    if option.repeatable:
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        return tuple(option.parse(item) for item in items if str(item).strip())
    return option.parse(raw)


def load_file(file: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(file.read_text())
    except OSError as err:
        raise ConfigError(f"{file}: cannot read the config file: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: not valid YAML: {err}") from err
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{file}: must be a mapping of settings, not {type(doc).__name__}")
    return doc
