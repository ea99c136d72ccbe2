"""Enough of a pip-compile lock reader to check it against pyproject.toml and the built image."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: tuple[str, ...]


def pins(lock: Path) -> dict[str, Pin]:
    """Each locked package by canonical name; every requirement must be `name==version`."""
    result: dict[str, Pin] = {}
    for entry in re.split(r"\n(?=\S)", lock.read_text()):
        head = entry.split("\n", 1)[0]
        if not head or head.startswith("#"):
            continue
        match = _PIN.match(head)
        assert match, f"{lock.name}: not pinned with ==: {head!r}"
        result[canonicalize_name(match[1])] = Pin(match[2], tuple(_HASH.findall(entry)))
    return result
