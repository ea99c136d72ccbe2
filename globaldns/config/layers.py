"""Where a setting's value comes from, strongest first: the command-line flag, the environment
variable `GLOBALDNS_<FLAG>`, the config file (`--config`, YAML, keys in camelCase), the mesh
file's own `zone`/`ttl`/`localCluster`, then the default.

`Layers` holds them, read once; `build(SettingsType)` reads every field of a settings type (see
`option`) through that one precedence, and a bad value is a `ConfigError` naming where it came
from. A command reads only its own options: any other field keeps its default, whatever the
environment or the file says (the pod's config file also serves `table` and `install`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from globaldns.config.files import load_file
from globaldns.config.option import ENV_PREFIX, OPTION, PART, SECTION, Option
from globaldns.config.values import ConfigError, path

T = TypeVar("T")


@dataclass(frozen=True)
class Layers:
    """The flags one command was given, the environment, the config file and the mesh file."""

    flags: argparse.Namespace
    command: tuple[Option, ...]  # the options the command offers; it reads only these
    environ: Mapping[str, str] = field(default_factory=dict)
    file: Mapping[str, Any] = field(default_factory=dict)
    file_name: str = "config file"
    mesh: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def read(
        cls,
        flags: argparse.Namespace,
        command: Collection[Option],
        declared: Collection[str],
        sections: Collection[str] = (),
        environ: Mapping[str, str] = os.environ,
    ) -> Layers:
        """Read the config file (`--config`, else `GLOBALDNS_CONFIG`) once; a key outside
        `declared` (every command's keys) or `sections` is refused as a typo."""
        name = getattr(flags, "config", None) or environ.get(ENV_PREFIX + "CONFIG")
        values = load_file(path(name)) if name else {}
        unknown = sorted(set(values) - set(declared) - set(sections))
        if unknown:
            raise ConfigError(f"{name}: unknown key(s) {unknown}; known: {sorted(declared)}")
        return cls(flags, tuple(command), environ, values, str(name or "config file"))

    def with_mesh(self, defaults: Mapping[str, Any]) -> Layers:
        """These layers above the mesh file's defaults (its `zone`, `ttl`, `localCluster`)."""
        return replace(self, mesh=defaults)

    def check(self) -> None:
        """Read every option the command offers, so that a bad value fails at start even where
        nothing reads it (`install`'s `--log-level`)."""
        for option in self.command:
            self.value(option)

    def value(self, option: Option) -> Any:
        """The option's value from the strongest layer that sets it, else its default."""
        if not any(option is offered for offered in self.command):
            return option.initial()
        candidates = (
            ("flag " + option.flag, getattr(self.flags, option.dest, None)),
            ("environment " + option.env, self.environ.get(option.env)),
            (f"{self.file_name}: {option.key}", self.file.get(option.key)),
            (f"the mesh file's {option.key}", self.mesh.get(option.key)),
        )
        for origin, raw in candidates:
            if raw is None:
                continue
            try:
                return option.read(raw)
            except (ValueError, TypeError) as err:
                raise ConfigError(f"{origin}: {err}") from err
        return option.initial()

    def build(self, kind: type[T]) -> T:
        """A settings type with every field read from these layers."""
        values: dict[str, Any] = {}
        for spec in fields(kind):  # type: ignore[arg-type]
            if OPTION in spec.metadata:
                values[spec.name] = self.value(spec.metadata[OPTION])
            elif PART in spec.metadata:
                values[spec.name] = self.build(spec.metadata[PART])
            elif SECTION in spec.metadata:
                key, parse = spec.metadata[SECTION]
                values[spec.name] = parse(self.file.get(key) or {})
        return kind(**values)
