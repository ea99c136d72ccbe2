"""Wiring several zones into one DNS object: `global.` and, with `--zones`, the
Multi-Cluster Services zone `clusterset.local` (SPEC §7), each forwarded to the same globaldns.

`Zones` is a target made of one target per zone on the same object: wiring applies each in
turn, unwiring undoes each in turn (the extra zones first, so the main zone's undo can give
back the saved object byte for byte). `multicluster_zones` says which zones the Corefile's
`kubernetes` plugin already serves itself (`multicluster`), which install refuses to take over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from globaldns.install.corefile import fqdn, parse
from globaldns.install.kube import Obj, Ref
from globaldns.install.targets import COREFILE, Target, for_ref

MCS_ZONE = "clusterset.local"  # what `uninstall` always unwires too: a no-op where not wired


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


def multicluster_zones(data: dict[str, str]) -> set[str]:
    """The zones (fully qualified) that a `kubernetes` plugin of this Corefile serves itself
    with its `multicluster` option; none for an object without a Corefile."""
    text = data.get(COREFILE)
    if text is None:
        return set()
    served: set[str] = set()
    for block in parse(text).blocks:
        for directive in block.directives:
            if directive.name.text != "kubernetes":
                continue
            args = directive.args
            for i, token in enumerate(args):
                if token.text != "multicluster":
                    continue
                for zone in args[i + 1 :]:
                    if zone.first_on_line or zone.text in ("{", "}"):
                        break
                    served.add(fqdn(zone.text))
    return served
