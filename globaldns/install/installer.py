"""`install` and `uninstall` in one cluster: apply the manifests, wire its DNS, and undo both.

Order matters for "nothing half-written": everything that can refuse (reads, an unparsable
Corefile, a missing ConfigMap) is checked before the first write; if a later write fails, the
objects this run created are deleted again. Writes to the DNS ConfigMap carry the
resourceVersion they were computed from and are recomputed on a 409.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import yaml

from globaldns import manifests
from globaldns.errors import GlobalDnsError
from globaldns.install import record
from globaldns.install.coredns_custom import CUSTOM_CONFIGMAP
from globaldns.install.corefile import CorefileError
from globaldns.install.diff import unified_diff
from globaldns.install.kube import Conflict, Kube, KubeError, NotServed, Obj, Ref
from globaldns.install.targets import (
    COREDNS,
    KUBE_DNS,
    KUBE_SYSTEM,
    PROBE_ADDRESS,
    Target,
    WiringError,
    choose,
    for_configmap,
)
from globaldns.install.wiring import AddressError, server_address

SERVICE = Ref("v1", "Service", "globaldns", "globaldns")
# components/keep-wired: may write only the one ConfigMap install wired (`wires` below).
WRITER_ROLE = Ref("rbac.authorization.k8s.io/v1", "Role", "kube-system", "globaldns-coredns-writer")
COREDNS_DEPLOYMENT = Ref("apps/v1", "Deployment", KUBE_SYSTEM, COREDNS)
DNS_CONFIGMAPS = (COREDNS, CUSTOM_CONFIGMAP, KUBE_DNS)
CONFLICT_RETRIES = 5
# Every object the manifests render carries it; uninstall deletes nothing without it.
OWN_LABEL, OWN_LABEL_VALUE = "app.kubernetes.io/name", "globaldns"
KEEP_WIRED = "keep-wired"
RESTART_HINT = f"kubectl -n {KUBE_SYSTEM} rollout restart deployment {COREDNS}"

Say = Callable[[str], None]
T = TypeVar("T")


class InstallError(GlobalDnsError):
    """This cluster failed; the message says why, what to do, and what was left behind."""


@dataclass(frozen=True)
class InstallOptions:
    zone: str
    ttl: int
    image: str | None
    local_cluster: str
    keep_wired: bool = False
    dry_run: bool = False
    timeout: float = 60.0
    components: tuple[str, ...] = ()
    # The `kube-system` ConfigMap this cluster is wired through (`targets.choose`): the only
    # one the keep-wired Role may write. Install sets it from the cluster; a render assumes
    # the Corefile.
    wires: str = COREDNS

    @property
    def cache(self) -> int:
        """Seconds CoreDNS caches our answers in the block install writes (at least 1)."""
        return max(self.ttl, 1)

    @classmethod
    def from_settings(cls, settings: dict[str, Any], context: str) -> InstallOptions:
        """What `install` does in `context`: it names the local cluster unless told otherwise."""
        return cls(
            zone=settings["zone"],
            ttl=settings["ttl"],
            image=settings["image"],
            local_cluster=settings["local_cluster"] or context,
            keep_wired=settings["keep_wired"],
            dry_run=settings["dry_run"],
            timeout=settings["timeout"],
            components=settings["component"],
        )


@dataclass(frozen=True)
class Outcome:
    """What happened in one cluster, for the summary table."""

    changed: bool
    via: str = "-"
    address: str = "-"
    note: str = ""
    diff: str = ""


def manifest_objects(options: InstallOptions) -> list[Obj]:
    """The manifests as applied to this cluster: its name, zone and TTL, the image, the
    components asked for, and a keep-wired Role naming only the ConfigMap it wires."""
    chosen = ((KEEP_WIRED,) if options.keep_wired else ()) + options.components
    objects = manifests.load(tuple(dict.fromkeys(chosen)))
    for obj in objects:
        if Ref.of(obj) == WRITER_ROLE:
            for rule in obj["rules"]:
                rule["resourceNames"] = [options.wires]
        if obj["kind"] == "ConfigMap" and Ref.of(obj).namespace == SERVICE.namespace:
            config = yaml.safe_load(obj["data"]["config.yaml"]) or {}
            config.update(zone=options.zone, ttl=options.ttl, localCluster=options.local_cluster)
            obj["data"]["config.yaml"] = yaml.safe_dump(config, sort_keys=False)
        if obj["kind"] == "Deployment" and options.image:
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = options.image
    return objects


async def install(kube: Kube, options: InstallOptions, say: Say) -> Outcome:
    say("reading kube-system DNS ConfigMaps")
    found = await _dns_configmaps(kube)
    try:
        target = target_of(found, options.zone, options.cache)
    except (WiringError, CorefileError) as err:
        raise InstallError(f"{err}; nothing was written") from None
    options = replace(options, wires=target.configmap)
    try:
        objects, skipped = await _where_namespaces_exist(kube, manifest_objects(options))
        live = {Ref.of(obj): await kube.get(Ref.of(obj)) for obj in objects}
    except KubeError as err:
        raise InstallError(f"{err}; nothing was written") from None
    pending = [obj for obj in objects if not contains(live[Ref.of(obj)], obj)]
    if options.dry_run:
        outcome = await _dry_run(kube, target, found[target.configmap] or {}, live, pending)
        return replace(outcome, note="; ".join(filter(None, (outcome.note, skipped))))
    created: list[Ref] = []
    try:
        for obj in pending:
            ref = Ref.of(obj)
            say(f"applying {ref}")
            await _retrying(partial(kube.apply, obj))
            if live[ref] is None:
                created.append(ref)
        address = await cluster_ip(kube, options.timeout, say)
        say(f"wiring {target.via} to {address}")
        before, after = await _write(kube, target, address, tuple(Ref.of(o) for o in objects))
    except (KubeError, WiringError, AddressError, CorefileError, record.RecordError) as err:
        raise InstallError(f"{err}; {await _roll_back(kube, created)}") from None
    notes = [f"applied {len(pending)} object(s)" if pending else "manifests up to date"]
    if skipped:
        notes.append(skipped)
    if before != after and target.needs_restart(after):
        notes.append(await _restart_coredns(kube, say))
    if before == after:
        notes.append(f"{target.via} already wired")
    return Outcome(bool(pending) or before != after, target.via, address, "; ".join(notes))


async def uninstall(kube: Kube, zone: str, dry_run: bool, say: Say) -> Outcome:
    say("reading kube-system DNS ConfigMaps")
    found = await _dns_configmaps(kube)
    try:
        records = {name: record.read(found[name]) for name in DNS_CONFIGMAPS}
    except record.RecordError as err:
        raise InstallError(f"{err}; nothing was written") from None
    wired = [name for name, installed in records.items() if installed is not None]
    if not wired:
        return Outcome(False, note=f"not installed: no {record.ANNOTATION} record in {KUBE_SYSTEM}")
    target = for_configmap(wired[0], zone, 1)
    configmap = found[target.configmap] or {}
    installed = records[target.configmap]
    assert installed is not None
    data = configmap.get("data") or {}
    restored, note = target.unwired(data, installed.previous)
    try:
        owned, refused = await _deletable(kube, installed.applied)
    except KubeError as err:
        raise InstallError(f"{err}; nothing was written") from None
    for line in refused:
        say(line)
    if dry_run:
        deletions = "".join(f"would delete {ref}\n" for ref in owned)
        diff = data_diff(target.configmap, data, restored) + deletions
        return Outcome(True, target.via, note="; ".join([note, *refused]), diff=diff)
    say(f"restoring {KUBE_SYSTEM}/{target.configmap}")
    before, after = await _unwrite(kube, target)
    deleted = 0
    for ref, uid in owned.items():
        say(f"deleting {ref}")
        try:
            if await kube.delete(ref, uid):
                deleted += 1
        except Conflict:
            refused.append(f"kept {ref}: it was replaced while uninstall ran; run uninstall again")
            say(refused[-1])
    notes = [note, f"deleted {deleted} object(s)", *refused]
    if before != after and target.needs_restart(after):
        notes.append(await _restart_coredns(kube, say))
    return Outcome(True, target.via, note="; ".join(notes))


async def _deletable(kube: Kube, recorded: tuple[Ref, ...]) -> tuple[dict[Ref, str], list[str]]:
    """What uninstall may delete (with the uid it was seen labelled under), last applied first,
    and one line per thing it leaves alone.

    Only objects the manifests render (the base and every component, whichever install was
    given) that exist with globaldns's own label: the record on the ConfigMap is written by
    whoever can edit it, so an entry naming anything else is reported and ignored.
    """
    rendered = [Ref.of(obj) for obj in manifests.load(manifests.component_names())]
    refused = [
        f"ignored {ref}: the {record.ANNOTATION} record lists it, but the globaldns manifests "
        "do not render it"
        for ref in recorded
        if ref not in rendered
    ]
    owned: dict[Ref, str] = {}
    for ref in reversed(rendered):
        try:
            live = await kube.get(ref)
        except NotServed:
            continue
        if live is None:
            continue
        meta = live.get("metadata") or {}
        if (meta.get("labels") or {}).get(OWN_LABEL) == OWN_LABEL_VALUE:
            owned[ref] = str(meta.get("uid") or "")
        else:
            refused.append(
                f"kept {ref}: it is not labelled {OWN_LABEL}={OWN_LABEL_VALUE}, so globaldns "
                "did not make it"
            )
    return owned, refused


async def _where_namespaces_exist(kube: Kube, objects: list[Obj]) -> tuple[list[Obj], str]:
    """The objects whose namespace exists or is among them, and a note naming those left out.

    The opt-in istio-remote-secrets component's Role lives in `istio-system`: a cluster without
    Istio yet still gets globaldns (it reads no remote secrets there) instead of a failed install.
    """
    created = {Ref.of(obj).name for obj in objects if obj["kind"] == "Namespace"}
    wanted = {Ref.of(obj).namespace for obj in objects} - created - {""}
    absent = {ns for ns in sorted(wanted) if await kube.get(Ref("v1", "Namespace", "", ns)) is None}
    kept = [obj for obj in objects if Ref.of(obj).namespace not in absent]
    left_out = [str(Ref.of(obj)) for obj in objects if Ref.of(obj).namespace in absent]
    if not left_out:
        return kept, ""
    return kept, (
        f"skipped {', '.join(left_out)}: no namespace {', '.join(sorted(absent))} "
        "(run install again once it exists)"
    )


async def cluster_ip(kube: Kube, timeout: float, say: Say) -> str:
    """The globaldns Service's ClusterIP, once the cluster has assigned it (bounded wait)."""
    deadline = time.monotonic() + timeout
    said = False
    while True:
        service = await kube.get(SERVICE)
        address = ((service or {}).get("spec") or {}).get("clusterIP")
        if address:
            return str(server_address(address))
        if time.monotonic() >= deadline:
            raise WiringError(
                f"{SERVICE} got no ClusterIP within {timeout:g}s; check `kubectl -n "
                f"{SERVICE.namespace} get service {SERVICE.name}` and run install again"
            )
        if not said:
            say(f"waiting for the ClusterIP of {SERVICE}")
            said = True
        await asyncio.sleep(0.2)


def contains(live: Any, desired: Any) -> bool:
    """Whether `live` already has every field `desired` sets (the server may add defaults)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            key in live and contains(live[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(a, b) for a, b in zip(live, desired, strict=True))
        )
    return bool(live == desired)


async def dns_configmaps(kube: Kube) -> dict[str, Obj | None]:
    """`kube-system`'s DNS ConfigMaps by name (None: absent): what `target_of` decides from."""
    return {name: await kube.get(configmap_ref(name)) for name in DNS_CONFIGMAPS}


def target_of(found: dict[str, Obj | None], zone: str, ttl: int) -> Target:
    """The target install wires for these ConfigMaps; the watchdog checks the same one."""
    return choose(found[COREDNS], found[CUSTOM_CONFIGMAP], found[KUBE_DNS], zone, ttl)


def configmap_ref(name: str) -> Ref:
    """The `kube-system` ConfigMap `name`, where every DNS target lives."""
    return Ref("v1", "ConfigMap", KUBE_SYSTEM, name)


async def _dns_configmaps(kube: Kube) -> dict[str, Obj | None]:
    try:
        return await dns_configmaps(kube)
    except KubeError as err:
        raise InstallError(f"{err}; nothing was written") from None


async def _dry_run(
    kube: Kube, target: Target, configmap: Obj, live: dict[Ref, Obj | None], pending: list[Obj]
) -> Outcome:
    service = live[SERVICE] or {}
    address = (service.get("spec") or {}).get("clusterIP")
    note = ""
    if not address:
        address = PROBE_ADDRESS
        note = f"{SERVICE} does not exist yet: {PROBE_ADDRESS} stands for its ClusterIP"
    data = configmap.get("data") or {}
    wired = target.wired(data, address)
    changes = "".join(
        f"would {'update' if live[Ref.of(obj)] else 'create'} {Ref.of(obj)}\n" for obj in pending
    )
    diff = data_diff(target.configmap, data, wired) + changes
    return Outcome(bool(diff), target.via, address, note, diff)


def data_diff(configmap: str, before: dict[str, str], after: dict[str, str]) -> str:
    """A unified diff per changed key of the `kube-system` ConfigMap `configmap`."""
    return "".join(
        unified_diff(before.get(key, ""), after.get(key, ""), f"{KUBE_SYSTEM}/{configmap}/{key}")
        for key in sorted({*before, *after})
    )


async def _write(
    kube: Kube, target: Target, address: str, applied: tuple[Ref, ...]
) -> tuple[dict[str, str], dict[str, str]]:
    """Wire the target ConfigMap and record the install on it; returns its data before/after."""
    ref = configmap_ref(target.configmap)

    def desired(configmap: Obj) -> Obj:
        data = configmap.get("data") or {}
        wired = target.wired(data, address)
        previous = record.read(configmap)
        if previous is None:
            kept = record.first(configmap, wired, applied)
        else:
            merged = previous.applied + tuple(r for r in applied if r not in previous.applied)
            kept = replace(previous, applied=merged)
        return record.with_record(configmap, wired, kept)

    return await update(kube, ref, desired)


async def _unwrite(kube: Kube, target: Target) -> tuple[dict[str, str], dict[str, str]]:
    ref = configmap_ref(target.configmap)

    def desired(configmap: Obj) -> Obj:
        installed = record.read(configmap)
        if installed is None:
            return configmap
        data, _ = target.unwired(configmap.get("data") or {}, installed.previous)
        return record.without_record(configmap, data, installed)

    return await update(kube, ref, desired)


async def update(
    kube: Kube, ref: Ref, desired: Callable[[Obj], Obj]
) -> tuple[dict[str, str], dict[str, str]]:
    """Read, change and write `ref`, again from a fresh read on each 409; no write if equal."""
    for _ in range(CONFLICT_RETRIES):
        current = await kube.get(ref)
        if current is None:
            raise WiringError(f"{ref} disappeared while it was being written; try again")
        wanted = desired(current)
        before, after = current.get("data") or {}, wanted.get("data") or {}
        if wanted == current:
            return before, after
        try:
            await kube.replace(wanted)
        except Conflict:
            continue
        return before, after
    raise KubeError(f"{ref} kept changing under us ({CONFLICT_RETRIES} conflicts); try again")


async def _retrying(write: Callable[[], Awaitable[T]]) -> T:
    for _ in range(CONFLICT_RETRIES - 1):
        try:
            return await write()
        except Conflict:
            continue
    return await write()


async def _roll_back(kube: Kube, created: list[Ref]) -> str:
    """Delete what this run created; says what was left behind if that fails too."""
    if not created:
        return "nothing was written"
    left: list[str] = []
    for ref in reversed(created):
        try:
            await kube.delete(ref)
        except KubeError:
            left.append(str(ref))
    if left:
        return f"could not delete what this run created: {', '.join(left)}; delete it by hand"
    return f"deleted the {len(created)} object(s) this run had created; nothing else was changed"


async def _restart_coredns(kube: Kube, say: Say) -> str:
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
