"""A cluster's DNS configuration as install, uninstall and the watchdog read and write it: the
`kube-system` objects a target is chosen from, the wiring written with its record, again from a
fresh read on each 409, and CoreDNS restarted where it does not reload."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from globaldns.install import record
from globaldns.install.diff import unified_diff
from globaldns.install.kube import Conflict, Kube, KubeError, NotServed, Obj, Ref
from globaldns.install.options import InstallError, Say
from globaldns.install.targets import (
    COREDNS,
    DNS_OBJECTS,
    KUBE_SYSTEM,
    NODE_LOCAL_DNS,
    PROBE_ADDRESS,
    Found,
    Target,
    WiringError,
    choose,
    configmap_ref,
    node_local,
)

COREDNS_DEPLOYMENT = Ref("apps/v1", "Deployment", KUBE_SYSTEM, COREDNS)
NODE_LOCAL_DAEMONSET = Ref("apps/v1", "DaemonSet", KUBE_SYSTEM, NODE_LOCAL_DNS)
NODE_LOCAL = configmap_ref(NODE_LOCAL_DNS)
# The kube-system ConfigMaps install may wire, which the watchdog's reader Role may get.
DNS_CONFIGMAPS = tuple(ref.name for ref in DNS_OBJECTS if ref.kind == "ConfigMap")
CONFLICT_RETRIES = 5
RESTART_HINT = f"kubectl -n {KUBE_SYSTEM} rollout restart deployment {COREDNS}"


async def dns_objects(kube: Kube) -> Found:
    """The objects `target_of` decides from (None: absent, or its kind not served here)."""
    found: Found = {}
    for ref in DNS_OBJECTS:
        try:
            found[ref] = await kube.get(ref)
        except NotServed:
            found[ref] = None
    return found


def target_of(found: Found, zone: str, ttl: int) -> Target:
    """The target install wires for these objects; the watchdog checks the same one."""
    return choose(found, zone, ttl)


async def read_dns_objects(kube: Kube) -> Found:
    try:
        return await dns_objects(kube)
    except KubeError as err:
        raise InstallError(f"{err}; nothing was written") from None


async def wired_targets(kube: Kube, found: Found, zone: str, ttl: int) -> list[Target]:
    """What install wires here, checked up front: the cluster's DNS (`target_of`), then
    NodeLocal DNSCache's Corefile where the cache runs (its ConfigMap and its DaemonSet)."""
    targets = [target_of(found, zone, ttl)]
    cache = found[NODE_LOCAL]
    if cache is not None and await kube.get(NODE_LOCAL_DAEMONSET) is not None:
        targets.append(node_local(zone, ttl))
        targets[-1].wired(cache.get("data") or {}, PROBE_ADDRESS)
    return targets


def data_diff(ref: Ref, before: dict[str, str], after: dict[str, str]) -> str:
    """A unified diff per changed key of what wiring edits in `ref` (`kube-system/coredns/...`)."""
    where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    return "".join(
        unified_diff(before.get(key, ""), after.get(key, ""), f"{where}/{key}")
        for key in sorted({*before, *after})
    )


async def write(
    kube: Kube, target: Target, address: str, applied: tuple[Ref, ...]
) -> tuple[dict[str, str], dict[str, str]]:
    """Wire the target and record the install on it; returns its data before/after. A target
    that may be absent (k3s's coredns-custom, RKE2's HelmChartConfig) is created."""
    created = False
    blank = target.blank()
    if blank is not None and await kube.get(target.ref) is None:
        try:
            await kube.create(blank)
            created = True
        except Conflict:
            pass  # made meanwhile: wire that one

    def desired(obj: Obj) -> Obj:
        data = target.data(obj)
        wired = target.wired(data, address)
        previous = record.read(obj)
        if previous is None:
            kept = record.first(obj, data, wired, applied, created)
        else:
            merged = previous.applied + tuple(r for r in applied if r not in previous.applied)
            kept = replace(previous, applied=merged)
        return record.with_record(target.with_data(obj, wired), kept)

    return await update(kube, target, desired)


async def unwrite(kube: Kube, target: Target) -> tuple[dict[str, str], dict[str, str]]:
    """Restore the target from its record; an object install created, and that holds nothing
    else now, is deleted again."""
    emptied = False

    def desired(obj: Obj) -> Obj:
        nonlocal emptied
        installed = record.read(obj)
        if installed is None:
            return obj
        data, _ = target.unwired(target.data(obj), installed.previous)
        restored = record.without_record(target.with_data(obj, data), installed)
        emptied = installed.created and _holds_nothing(restored)
        return restored

    before, after = await update(kube, target, desired)
    if emptied:
        await kube.delete(target.ref)
    return before, after


def _holds_nothing(obj: Obj) -> bool:
    """No content beside its identity: what install created, emptied again."""
    meta = obj.get("metadata") or {}
    return not (meta.get("annotations") or meta.get("labels")) and not any(
        value
        for key, value in obj.items()
        if key not in ("apiVersion", "kind", "metadata", "status")
    )


async def update(
    kube: Kube, target: Target, desired: Callable[[Obj], Obj]
) -> tuple[dict[str, str], dict[str, str]]:
    """Read, change and write the target's object, again from a fresh read on each 409; no
    write if equal. Returns its wired part before and after."""
    ref = target.ref
    for _ in range(CONFLICT_RETRIES):
        current = await kube.get(ref)
        if current is None:
            raise WiringError(f"{ref} disappeared while it was being written; try again")
        wanted = desired(current)
        before, after = target.data(current), target.data(wanted)
        if wanted == current:
            return before, after
        try:
            await kube.replace(wanted)
        except Conflict:
            continue
        return before, after
    raise KubeError(f"{ref} kept changing under us ({CONFLICT_RETRIES} conflicts); try again")


async def restart_coredns(kube: Kube, say: Say) -> str:
    """Without `reload`, CoreDNS reads its config only at start: roll its pods like kubectl."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}
        }
    }
    say(f"CoreDNS does not reload its config: restarting {COREDNS_DEPLOYMENT}")
    try:
        if await kube.get(COREDNS_DEPLOYMENT) is None:
            return (
                f"CoreDNS must be restarted to see the change and there is no "
                f"{COREDNS_DEPLOYMENT}: restart the CoreDNS pods by hand"
            )
        await kube.merge_patch(COREDNS_DEPLOYMENT, patch)
    except KubeError as err:
        return f"CoreDNS must be restarted to see the change ({err}): run `{RESTART_HINT}`"
    return f"restarted {COREDNS_DEPLOYMENT} (CoreDNS has no reload plugin)"
