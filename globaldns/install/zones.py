"""Wiring several zones into one DNS object: `global.` and, with `--zones`, the
Multi-Cluster Services zone `clusterset.local` (SPEC §7), each forwarded to the same globaldns.

`Zones` is a target made of one target per zone on the same object: wiring applies each in
turn, unwiring undoes each in turn (the extra zones first, so the main zone's undo can give
back the saved object byte for byte). `multicluster_zones` says which zones the Corefile's
`kubernetes` plugin already serves itself (`multicluster`), which install and the watchdog's
repair refuse to take over (`refuse_served`). `WIRING_ZONES` is how install tells the server
which zones it wired beside `--zone`, so its watchdog checks and repairs those too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from globaldns.config import Option
from globaldns.config.values import zone_name
from globaldns.install import platforms
from globaldns.install.corefile import Corefile, Token, fqdn, parse
from globaldns.install.kube import Obj, Ref
from globaldns.install.targets import (
    COREFILE,
    RKE2_CONFIG,
    Found,
    Target,
    WiringError,
    for_ref,
)
from globaldns.install.wiring import managed_block

MCS_ZONE = "clusterset.local"  # what `uninstall` always unwires too: a no-op where not wired
WIRING_ZONES = Option(
    "--wiring-zones",
    zone_name,
    (),
    "zones install wired beside --zone (`install --zones` writes them into the config): the "
    "wiring check asks each, --keep-wired puts each back",
    repeatable=True,
    metavar="ZONE,...",
)


@dataclass(frozen=True)
class Zones:
    """`each[0]` is the main zone's target; the rest edit the same object for other zones."""

    each: tuple[Target, ...]

    @property
    def ref(self) -> Ref:
        return self.each[0].ref

    @property
    def via(self) -> str:
        return self.each[0].via

    def data(self, obj: Obj) -> dict[str, str]:
        return self.each[0].data(obj)

    def with_data(self, obj: Obj, data: dict[str, str]) -> Obj:
        return self.each[0].with_data(obj, data)

    def blank(self) -> Obj | None:
        return self.each[0].blank()

    def wired(self, data: dict[str, str], address: str | None) -> dict[str, str]:
        for target in self.each:
            data = target.wired(data, address)
        return data

    def unwired(
        self, data: dict[str, str], previous: dict[str, str | None]
    ) -> tuple[dict[str, str], str]:
        notes = []
        for target in reversed(self.each):
            before = data
            data, note = target.unwired(data, previous)
            if data != before or target is self.each[0]:
                notes.append(note)
        # Restored as saved: the main zone's undo says so; else what each zone's undo did.
        return data, notes[-1] if data == _as_saved(previous, data) else "; ".join(notes)

    def needs_restart(self, data: dict[str, str]) -> bool:
        return self.each[0].needs_restart(data)


def _as_saved(previous: dict[str, str | None], data: dict[str, str]) -> dict[str, str]:
    """`data` with the keys install saved as they were before it: `data` itself when every
    zone's undo gave them back."""
    restored = {key: value for key, value in data.items() if key not in previous}
    restored.update({key: value for key, value in previous.items() if value is not None})
    return restored


def across(target: Target, zones: Sequence[str], ttl: int) -> Target:
    """`target` (the main zone's) and the same object's target for each other zone."""
    if not zones:
        return target
    return Zones((target, *(for_ref(target.ref, zone, ttl) for zone in zones)))


def refuse_served(found: Found, zones: Sequence[str]) -> None:
    """`WiringError` when a Corefile among `found` serves one of `zones` itself: its
    `kubernetes` plugin's `multicluster` option, or a server block install did not write
    (another MCS implementation's forward): a forward of ours would take the zone from it.
    A Corefile that does not parse is refused (`CorefileError`), never guessed at."""
    if not zones:
        return
    for ref, obj in found.items():
        if ref == RKE2_CONFIG:
            served = rke2_multicluster_zones((obj or {}).get("spec") or {})
            foreign: set[str] = set()
        else:
            parsed = corefiles(dict((obj or {}).get("data") or {}))  # each text parsed once
            served, foreign = _served_by_option(parsed), foreign_blocks(parsed, zones)
        for zone in zones:
            if fqdn(zone) in served:
                raise WiringError(
                    f"{ref} already serves {fqdn(zone)}: its kubernetes plugin has the "
                    f"`multicluster {zone}` option; remove it, or leave {zone} out of --zones"
                )
            if zone in foreign:
                raise WiringError(
                    f"{ref} already serves {fqdn(zone)} with a server block install did not "
                    "write (another MCS implementation's forward, say Lighthouse's); remove "
                    f"that block, or leave {zone} out of --zones"
                )


def multicluster_zones(data: dict[str, str]) -> set[str]:
    """The zones (fully qualified) that a `kubernetes` plugin serves itself with its
    `multicluster` option, in any block or snippet of the object's Corefile or of its
    `*.server` keys (the server blocks AKS and k3s import from `coredns-custom`); none for an
    object without either. Only the option counts: the word first on a line of the plugin's
    own block (not in a comment, a nested block or another plugin's arguments)."""
    return _served_by_option(corefiles(data))


def corefiles(data: dict[str, str]) -> list[Corefile]:
    """The object's Corefile and its `*.server` keys, parsed (`CorefileError` if one cannot)."""
    return [parse(text) for key, text in data.items() if key == COREFILE or key.endswith(".server")]


def _served_by_option(parsed: Sequence[Corefile]) -> set[str]:
    served: set[str] = set()
    for corefile in parsed:
        for block in corefile.blocks:
            for directive in block.directives:
                if directive.name.text == "kubernetes":
                    served |= _option_args(directive.args, "multicluster")
    return served


def foreign_blocks(parsed: Sequence[Corefile], zones: Sequence[str]) -> set[str]:
    """The `zones` that a server block not written by install serves, in `parsed` (`corefiles`
    of an object): a forward of ours would take the zone from it."""
    found: set[str] = set()
    for corefile in parsed:
        for zone in zones:
            ours = managed_block(corefile, zone)
            if any(block is not ours for block in corefile.blocks_serving(zone)):
                found.add(zone)
    return found


def rke2_multicluster_zones(spec: dict[str, Any]) -> set[str]:
    """`multicluster_zones` of what RKE2's chart renders from a HelmChartConfig's values: each
    server's `kubernetes` plugin with its `configBlock` (read as a Corefile block, by the same
    parser: a block it cannot read is refused, never guessed at)."""
    try:
        values = platforms.rke2_values(spec.get(platforms.VALUES))
    except platforms.PlatformError as err:
        raise WiringError(f"{RKE2_CONFIG}: {err}") from None
    served: set[str] = set()
    for server in values.get(platforms.SERVERS) or []:
        for plugin in server.get("plugins") or []:
            if isinstance(plugin, dict) and plugin.get("name") == "kubernetes":
                block = str(plugin.get("configBlock") or "")
                text = f". {{\nkubernetes {{\n{block}\n}}\n}}\n"
                served |= multicluster_zones({COREFILE: text})
    return served


def _option_args(args: Sequence[Token], option: str) -> set[str]:
    """The arguments of `option` (fully qualified) in a plugin's block: the option starts a
    line of it, or follows its `{` (CoreDNS reads `kubernetes {  multicluster z }` too)."""
    found: set[str] = set()
    depth, line, opened = 0, -1, False  # `line`: the line of the option read, while it runs
    for token in args:
        if token.first_on_line or opened:
            line = token.line if depth == 1 and token.text == option else -1
            opened = False
            if line >= 0:
                continue
        if token.text in ("{", "}"):
            depth += 1 if token.text == "{" else -1
            line, opened = -1, token.text == "{"
        elif token.line == line:
            found.add(fqdn(token.text))
    return found
