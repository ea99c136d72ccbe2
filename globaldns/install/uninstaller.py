"""`uninstall` in one cluster: unwire its DNS from the records install left, and delete what
globaldns made (labelled as its own), and nothing else."""

from __future__ import annotations

from globaldns.install import record
from globaldns.install.cluster_dns import (
    NODE_LOCAL,
    data_diff,
    read_dns_objects,
    restart_coredns,
    unwrite,
)
from globaldns.install.kube import Conflict, Kube, KubeError, Ref
from globaldns.install.objects import deletable
from globaldns.install.options import InstallError, Outcome, Say
from globaldns.install.targets import DNS_OBJECTS, KUBE_SYSTEM, for_ref
from globaldns.install.zones import MCS_ZONE, across


async def uninstall(
    kube: Kube, zone: str, dry_run: bool, say: Say, overlay_objects: tuple[Ref, ...] = ()
) -> Outcome:
    """Unwire every DNS object install recorded on, and delete what the manifests (and the
    overlay given with --kustomize, `overlay_objects`) render, and what `install
    --remote-secrets` made, that carries globaldns's label."""
    say("reading kube-system DNS ConfigMaps")
    found = await read_dns_objects(kube)
    try:
        records = {ref: record.read(found[ref]) for ref in DNS_OBJECTS}
    except record.RecordError as err:
        raise InstallError(f"{err}; nothing was written") from None
    wired = [name for name, installed in records.items() if installed is not None]
    if not wired:
        return Outcome(False, note=f"not installed: no {record.ANNOTATION} record in {KUBE_SYSTEM}")
    also = () if zone == MCS_ZONE else (MCS_ZONE,)  # a no-op where it was never wired
    targets = [across(for_ref(ref, zone, 1), also, 1) for ref in wired]
    restored: dict[Ref, dict[str, str]] = {}
    notes: list[str] = []
    applied: tuple[Ref, ...] = ()
    for target in targets:
        installed = records[target.ref]
        assert installed is not None
        data = target.data(found[target.ref] or {})
        restored[target.ref], note = target.unwired(data, installed.previous)
        notes.append(note)
        applied += tuple(ref for ref in installed.applied if ref not in applied)
    via = " + ".join(target.via for target in targets)
    try:
        owned, refused = await deletable(kube, applied, overlay_objects)
    except KubeError as err:
        raise InstallError(f"{err}; nothing was written") from None
    for line in refused:
        say(line)
    if dry_run:
        diff = "".join(
            data_diff(t.ref, t.data(found[t.ref] or {}), restored[t.ref]) for t in targets
        ) + "".join(f"would delete {ref}\n" for ref in owned)
        return Outcome(True, via, note="; ".join([*notes, *refused]), diff=diff)
    restart: set[Ref] = set()
    for target in targets:
        say(f"restoring {target.ref}")
        before, after = await unwrite(kube, target)
        if before != after and target.needs_restart(after):
            restart.add(target.ref)
    deleted = 0
    for ref, uid in owned.items():
        say(f"deleting {ref}")
        try:
            if await kube.delete(ref, uid):
                deleted += 1
        except Conflict:
            refused.append(f"kept {ref}: it was replaced while uninstall ran; run uninstall again")
            say(refused[-1])
    notes += [f"deleted {deleted} object(s)", *refused]
    if restart - {NODE_LOCAL}:
        notes.append(await restart_coredns(kube, say))
    return Outcome(True, via, note="; ".join(notes))
