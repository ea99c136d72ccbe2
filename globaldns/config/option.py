"""One setting, declared once: its flag, its environment variable, its config-file key, how its
text is read and its default; and the settings fields that read it.

A settings type is a frozen dataclass whose fields say where their values come from:
`setting(OPTION)` (flag, environment, config file, mesh file, default; see `layers`), `part(Type)`
(a nested settings type, read the same way) or `section(KEY, parse)` (a mapping of the config
file read as a whole). The flags a command offers are its option groups; the keys a config file
may hold are those of every command's options (`declared_keys`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields
from functools import cached_property
from typing import Any

from globaldns.config.values import (
    address,
    dns_name,
    host_port,
    host_port_text,
    network,
    path,
    positive,
    seconds,
    server_id,
    text,
    ttl,
    whole,
    zone_name,
)

ENV_PREFIX = "GLOBALDNS_"
OPTION, PART, SECTION = "option", "part", "section"  # what a settings field is read from


@dataclass(frozen=True)
class Option:
    """One setting: its flag, its config-file key, how to read it, and its default.

    `metavar` says the value's form in `--help` (`HOST:PORT`, `SECONDS`); `choices`, when set,
    are the only values argparse accepts (the environment and the file go through `parse`).
    """

    flag: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    repeatable: bool = False
    switch: bool = False
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    # For a repeatable option: checks (or refuses) the values together, or gathers them into
    # the collection the setting holds (`frozenset`).
    together: Callable[[tuple[Any, ...]], Any] | None = None

    @cached_property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @cached_property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()

    @cached_property
    def key(self) -> str:
        head, *rest = self.dest.split("_")
        return head + "".join(part.capitalize() for part in rest)

    def read(self, raw: Any) -> Any:
        """The setting's value from a flag's, a variable's or a config file's `raw` value."""
        if self.repeatable:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return self.gather(tuple(self.parse(item) for item in items if str(item).strip()))
        return self.parse(raw)

    def gather(self, values: tuple[Any, ...]) -> Any:
        return self.together(values) if self.together else values

    def initial(self) -> Any:
        """The value when nothing sets it: the default, gathered like any other."""
        return self.gather(self.default) if self.repeatable else self.default

    def shown_default(self) -> str:
        """The default as a user would type it."""
        empty = isinstance(self.default, frozenset) and not self.default
        values = self.default if self.repeatable else () if empty else (self.default,)
        if self.switch:
            return "on" if self.default else "off"
        if self.default is None or self.default == "" or not values:
            return "none"
        return ",".join(_shown(value) for value in values)


def _shown(value: Any) -> str:
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        return host_port_text(*value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def setting(option: Option) -> Any:
    """A settings field whose value `option` reads; unread, it is the option's default."""
    return field(default=option.initial(), metadata={OPTION: option})


def part(kind: type[Any]) -> Any:
    """A settings field holding a nested settings type, read the same way."""
    return field(default_factory=kind, metadata={PART: kind})


def section(key: str, parse: Callable[[Mapping[str, Any]], Any]) -> Any:
    """A settings field read from the config file's mapping `key` as a whole by `parse`."""
    return field(default_factory=lambda: parse({}), metadata={SECTION: (key, parse)})


def options_of(kind: type[Any]) -> tuple[Option, ...]:
    """Every option a settings type reads, nested types included, in field order."""
    read = (spec.metadata[OPTION] for spec in _fields(kind) if OPTION in spec.metadata)
    return tuple(dict.fromkeys(read))


def sections_of(kind: type[Any]) -> tuple[str, ...]:
    """The config-file sections a settings type reads, nested types included."""
    return tuple(spec.metadata[SECTION][0] for spec in _fields(kind) if SECTION in spec.metadata)


def _fields(kind: type[Any]) -> Iterator[Field[Any]]:
    """The fields of a settings type, each nested type's in its place."""
    for spec in fields(kind):
        if PART in spec.metadata:
            yield from _fields(spec.metadata[PART])
        else:
            yield spec


def declared_keys(options: Iterable[Option]) -> frozenset[str]:
    """The config-file keys of these options: every other key is a typo."""
    return frozenset(option.key for option in options)


def add_options(
    parser: argparse.ArgumentParser, options: Sequence[Option], title: str | None = None
) -> None:
    """Flags default to None so that an unset flag lets the environment or file decide."""
    target: argparse.ArgumentParser | argparse._ArgumentGroup = (
        parser.add_argument_group(title) if title else parser
    )
    for option in options:
        help_text = f"{option.help} (default: {option.shown_default()}; env {option.env})"
        help_text = help_text.replace("%", "%%")
        if option.switch:
            target.add_argument(option.flag, action="store_true", default=None, help=help_text)
        else:
            target.add_argument(
                option.flag,
                action="append" if option.repeatable else "store",
                default=None,
                help=help_text,
                metavar=None if option.choices else option.metavar or _metavar(option.parse),
                choices=option.choices,
            )


def _metavar(parse: Callable[[Any], Any]) -> str | None:
    """The form a value takes, from how it is read (`--serve-stale SECONDS`)."""
    forms: dict[Callable[[Any], Any], str] = {
        seconds: "SECONDS",
        whole: "N",
        positive: "N",
        ttl: "SECONDS",
        path: "FILE",
        host_port: "HOST:PORT",
        zone_name: "NAME",
        dns_name: "NAME",
        server_id: "NAME",
        text: "NAME",
        network: "CIDR",
        address: "IP",
    }
    return forms.get(parse)
