"""The `global.` name of an imported service (SPEC §7, the imports feed): local first, then the
MCS implementation's VIP, then the endpoints it says the other clusters have.

1. local: the local cluster runs the Service (watched as ever) with a ready endpoint -> its
   own addresses (ClusterIPs; ready endpoints when headless), as `policy` rule 1;
2. VIP: else the ServiceImport's `spec.ips`, answered as they are: the MCS implementation
   routes them, so no readiness or gateway of ours judges them;
3. remote: else the ready endpoint addresses of the labelled EndpointSlices, by source cluster
   (the local cluster's first), the addresses the MCS implementation connects clusters by;
4. fail open: nobody ready -> the local cluster's addresses as if ready; else no answer.

Each cluster gets a `Contribution` for `globaldns table NAME`, as `policy.resolve` gives.
"""

from __future__ import annotations

from collections.abc import Mapping

from globaldns.table.model import Export, Instance, is_remote
from globaldns.table.policy import Contribution, PolicyTier, Resolution

NOT_NEEDED = "not needed: the local cluster answers"


def resolve_import(
    mine: Instance | None, imports: Mapping[str, Export], local: str | None, explain: bool = False
) -> Resolution | None:
    """Apply the tiers to an import (`imports`: source cluster -> what it has) and the local
    cluster's own Service (`mine`, None when it runs none)."""
    here = local or ""
    order = sorted(imports, key=lambda cluster: (is_remote(cluster, local), cluster))
    vips = tuple(dict.fromkeys(a for c in order if imports[c].vip for a in imports[c].addresses))
    ready = {c: _ready(imports[c]) for c in order}
    if mine is not None and mine.ready > 0 and mine.addresses:
        why = f"{mine.ready} ready endpoint(s) in the local cluster, before the import"
        notes = [_note(c, imports[c], False, NOT_NEEDED) for c in order] if explain else []
        return _resolution(PolicyTier.LOCAL, mine.addresses, (here,), why, here, mine, True, notes)
    prefix = "no ready endpoint locally; " if mine is not None else "not run locally; "
    if vips:
        why = f"{prefix}the ServiceImport's spec.ips {', '.join(vips)}"
        notes = [_note(c, imports[c], True, "imports it") for c in order] if explain else []
        return _resolution(PolicyTier.VIP, vips, tuple(order), why, here, mine, False, notes)
    used = [c for c in order if ready[c]]
    if used:
        addresses = tuple(dict.fromkeys(a for c in used for a in ready[c]))
        why = f"{prefix}no VIP: the ready endpoints the import lists in {', '.join(used)}"
        notes = [_note(c, imports[c], bool(ready[c]), _listed(ready[c])) for c in order]
        return _resolution(
            PolicyTier.REMOTE,
            addresses,
            tuple(used),
            why,
            here,
            mine,
            False,
            notes if explain else [],
        )
    if mine is not None and mine.addresses:
        why = "no ready endpoint anywhere: answering the local cluster as if ready"
        notes = [_note(c, imports[c], False, "0 ready endpoints") for c in order] if explain else []
        return _resolution(
            PolicyTier.FAILOPEN, mine.addresses, (here,), why, here, mine, True, notes
        )
    return None


def _ready(export: Export) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for e in export.endpoints for a in e.addresses))


def _listed(addresses: tuple[str, ...]) -> str:
    return f"endpoints {', '.join(addresses)}" if addresses else "0 ready endpoints"


def _note(cluster: str, export: Export, used: bool, why: str) -> Contribution:
    return Contribution(cluster, export.ready, (), used, f"import: {why}")


def _resolution(
    tier: PolicyTier,
    addresses: tuple[str, ...],
    clusters: tuple[str, ...],
    why: str,
    local: str,
    mine: Instance | None,
    local_used: bool,
    notes: list[Contribution],
) -> Resolution:
    """One group of addresses; with `notes` (explaining), the local cluster's part first."""
    contributions: tuple[Contribution, ...] = ()
    if notes and mine is not None:
        said = (
            "its own addresses " + ", ".join(mine.addresses) if local_used else "no ready endpoint"
        )
        own = Contribution(local, mine.ready, (), local_used, f"local cluster: {said}")
        contributions = (own, *notes)
    elif notes:
        contributions = tuple(notes)
    return Resolution(tier, (addresses,), clusters, why, contributions)
