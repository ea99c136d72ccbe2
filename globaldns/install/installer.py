"""`install` and `uninstall` in one cluster: apply the manifests, wire its DNS, and undo both.

Order matters for "nothing half-written": everything that can refuse (reads, an unparsable
Corefile, a missing ConfigMap) is checked before the first write; if a later write fails, the
objects this run created are deleted again. Writes to the DNS ConfigMap carry the
resourceVersion they were computed from and are recomputed on a 409.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import yaml

from globaldns import manifests
from globaldns.errors import GlobalDnsError
from globaldns.install import overlay, record, remote_secret
from globaldns.install.corefile import CorefileError
from globaldns.install.diff import unified_diff
from globaldns.install.kube import Conflict, Kube, KubeError, NotServed, Obj, Ref
from globaldns.install.rollout import NotAnswering, Where, wait_until_answering
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
    for_ref,
    node_local,
)
from globaldns.install.wiring import AddressError, server_address

SERVICE = Ref("v1", "Service", "globaldns", "globaldns")
ISTIOD = Ref("apps/v1", "Deployment", "istio-system", "istiod")
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
DNS_PORT = 53
# components/keep-wired: may write only the one ConfigMap install wired (`wires` below).
WRITER_ROLE = Ref("rbac.authorization.k8s.io/v1", "Role", "kube-system", "globaldns-coredns-writer")
COREDNS_DEPLOYMENT = Ref("apps/v1", "Deployment", KUBE_SYSTEM, COREDNS)
NODE_LOCAL_DAEMONSET = Ref("apps/v1", "DaemonSet", KUBE_SYSTEM, NODE_LOCAL_DNS)
NODE_LOCAL = configmap_ref(NODE_LOCAL_DNS)
# The kube-system ConfigMaps install may wire, which the watchdog's reader Role may get.
DNS_CONFIGMAPS = tuple(ref.name for ref in DNS_OBJECTS if ref.kind == "ConfigMap")
CONFLICT_RETRIES = 5
# Every object the manifests render carries it; uninstall deletes nothing without it.
OWN_LABEL, OWN_LABEL_VALUE = overlay.OWN_LABEL, overlay.OWN_LABEL_VALUE
KEEP_WIRED = "keep-wired"
NETWORK_POLICY = "networkpolicy"
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
    # Whether the operator named the cluster; else istiod's CLUSTER_ID, where Istio runs, wins
    # over the context name.
    named: bool = True
    keep_wired: bool = False
    dry_run: bool = False
    timeout: float = 60.0
    components: tuple[str, ...] = ()
    # Where to ask globaldns before wiring (None: its Service's ClusterIP, port 53).
    check_address: tuple[str, int] | None = None
    # The nodes' addresses, which components/networkpolicy admits for NodeLocal DNSCache.
    node_cidrs: tuple[str, ...] = ()
    # The operator's kustomize overlay, applied instead of the bundled base and components.
    kustomize: Path | None = None
    # The `kube-system` ConfigMap this cluster is wired through (`targets.choose`): the only
    # one the keep-wired Role may write. Install sets it from the cluster; a render assumes
    # the Corefile.
    wires: str = COREDNS

    @property
    def cache(self) -> int:
        """Seconds CoreDNS caches our answers in the block install writes (at least 1)."""
        return max(self.ttl, 1)


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
    if options.kustomize is not None:
        objects = overlay.render(options.kustomize)
    else:
        objects = manifests.load(tuple(dict.fromkeys(chosen)))
    for obj in objects:
        if Ref.of(obj) == WRITER_ROLE:
            for rule in obj["rules"]:
                rule["resourceNames"] = [options.wires]
        if obj["kind"] == "ConfigMap" and overlay.CONFIG_KEY in (obj.get("data") or {}):
            config = yaml.safe_load(obj["data"]["config.yaml"]) or {}
            config.update(zone=options.zone, ttl=options.ttl, localCluster=options.local_cluster)
            obj["data"]["config.yaml"] = yaml.safe_dump(config, sort_keys=False)
        if obj["kind"] == "NetworkPolicy" and options.node_cidrs:
            _admit_nodes(obj, options.node_cidrs)
        if obj["kind"] == "Deployment" and options.image and overlay.own(obj):
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = options.image
    return objects


def _admit_nodes(policy: Obj, cidrs: tuple[str, ...]) -> None:
    """Put the nodes' CIDRs where the component's placeholder `ipBlock` is."""
    for rule in policy["spec"]["ingress"]:
        peers = rule.get("from") or []
        if any("ipBlock" in peer for peer in peers):
            kept = [peer for peer in peers if "ipBlock" not in peer]
            rule["from"] = kept + [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]


async def install(kube: Kube, options: InstallOptions, say: Say) -> Outcome:
    say("reading kube-system DNS ConfigMaps")
    found = await _dns_objects(kube)
    try:
        targets = await wired_targets(kube, found, options.zone, options.cache)
    except (WiringError, CorefileError, KubeError) as err:
        raise InstallError(f"{err}; nothing was written") from None
    options = replace(options, local_cluster=await _cluster_id(kube, options))
    primary = targets[0].ref
    if options.keep_wired and primary.kind != "ConfigMap":
        raise InstallError(
            f"--keep-wired: this cluster is wired through {primary}, which the platform keeps "
            "and does not revert; leave --keep-wired out. Nothing was written"
        )
    options = replace(options, wires=primary.name)
    if len(targets) > 1 and NETWORK_POLICY in options.components and not options.node_cidrs:
        raise InstallError(
            f"{NODE_LOCAL_DNS} runs here and the {NETWORK_POLICY} component would drop its "
            "queries, which come from the nodes' addresses (hostNetwork): give the node CIDR(s) "
            "with --node-cidr CIDR; nothing was written"
        )
    via = " + ".join(target.via for target in targets)
    try:
        objects, skipped = await _where_namespaces_exist(kube, manifest_objects(options))
        live = {Ref.of(obj): await kube.get(Ref.of(obj)) for obj in objects}
    except (KubeError, overlay.OverlayError) as err:
        raise InstallError(f"{err}; nothing was written") from None
    pending = [obj for obj in objects if not contains(live[Ref.of(obj)], obj)]
    if options.dry_run:
        outcome = await _dry_run(targets, found, live, pending, own_service(objects))
        return replace(outcome, note="; ".join(filter(None, (outcome.note, skipped))))
    created: list[Ref] = []
    written: list[tuple[Target, bool]] = []  # and whether the change needs a restart
    try:
        for obj in pending:
            ref = Ref.of(obj)
            say(f"applying {ref}")
            await _retrying(partial(kube.apply, obj))
            if live[ref] is None:
                created.append(ref)
        address = await cluster_ip(kube, own_service(objects), options.timeout, say)
        say("waiting for a globaldns pod to be ready and answer")
        host, port = options.check_address or (address, DNS_PORT)
        where = _where(objects, host, port, options.zone)
        await wait_until_answering(kube, where, options.timeout, say)
        applied = tuple(Ref.of(o) for o in objects)
        unchanged: list[str] = []
        for target in targets:
            say(f"wiring {target.via} to {address}")
            before, after = await _write(kube, target, address, applied)
            written.append((target, before != after and target.needs_restart(after)))
            if before == after:
                unchanged.append(target.via)
    except (
        KubeError,
        WiringError,
        AddressError,
        CorefileError,
        record.RecordError,
        NotAnswering,
    ) as err:
        unwired = await _unwire_after_failure(kube, [target for target, _ in written])
        raise InstallError(f"{err}; {unwired}{await _roll_back(kube, created)}") from None
    notes = [f"applied {len(pending)} object(s)" if pending else "manifests up to date"]
    if skipped:
        notes.append(skipped)
    restart = {target.ref for target, needed in written if needed}
    if restart - {NODE_LOCAL}:
        notes.append(await _restart_coredns(kube, say))
    if NODE_LOCAL in restart:
        notes.append(f"{NODE_LOCAL_DNS} has no reload plugin: restart its pods to see the change")
    if unchanged:
        notes.append(f"{' + '.join(unchanged)} already wired")
    changed = bool(pending) or len(unchanged) < len(targets)
    return Outcome(changed, via, address, "; ".join(notes))


async def wired_targets(kube: Kube, found: Found, zone: str, ttl: int) -> list[Target]:
    """What install wires here, checked up front: the cluster's DNS (`target_of`), then
    NodeLocal DNSCache's Corefile where the cache runs (its ConfigMap and its DaemonSet)."""
    targets = [target_of(found, zone, ttl)]
    cache = found[NODE_LOCAL]
    if cache is not None and await kube.get(NODE_LOCAL_DAEMONSET) is not None:
        targets.append(node_local(zone, ttl))
        targets[-1].wired(cache.get("data") or {}, PROBE_ADDRESS)
    return targets


async def _unwire_after_failure(kube: Kube, written: list[Target]) -> str:
    """Undo the wiring this run wrote before a later step failed; says so, or what is left."""
    left: list[str] = []
    for target in written:
        try:
            await _unwrite(kube, target)
        except (KubeError, WiringError, CorefileError, record.RecordError):
            left.append(str(target.ref))
    if left:
        return f"could not unwire {', '.join(left)}: run uninstall; "
    return "unwired what this run had wired; " if written else ""


async def uninstall(
    kube: Kube, zone: str, dry_run: bool, say: Say, overlay_objects: tuple[Ref, ...] = ()
) -> Outcome:
    """Unwire every DNS object install recorded on, and delete what the manifests (and the
    overlay given with --kustomize, `overlay_objects`) render, and what `install
    --remote-secrets` made, that carries globaldns's label."""
    say("reading kube-system DNS ConfigMaps")
    found = await _dns_objects(kube)
    try:
        records = {ref: record.read(found[ref]) for ref in DNS_OBJECTS}
    except record.RecordError as err:
        raise InstallError(f"{err}; nothing was written") from None
    wired = [name for name, installed in records.items() if installed is not None]
    if not wired:
        return Outcome(False, note=f"not installed: no {record.ANNOTATION} record in {KUBE_SYSTEM}")
    targets = [for_ref(ref, zone, 1) for ref in wired]
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
        owned, refused = await _deletable(kube, applied, overlay_objects)
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
        before, after = await _unwrite(kube, target)
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
        notes.append(await _restart_coredns(kube, say))
    return Outcome(True, via, note="; ".join(notes))


async def _deletable(
    kube: Kube, recorded: tuple[Ref, ...], overlay_objects: tuple[Ref, ...]
) -> tuple[dict[Ref, str], list[str]]:
    """What uninstall may delete (with the uid it was seen labelled under), last applied first,
    and one line per thing it leaves alone.

    Only objects the manifests render (the base and every component, whichever install was
    given, and the operator's overlay), or that `install --remote-secrets` made (fixed names,
    `remote_secret.made_here`), that exist with globaldns's own label: the record on the
    ConfigMap is written by whoever can edit it, so an entry naming anything else is reported
    and ignored.
    """
    base = [Ref.of(obj) for obj in manifests.load(manifests.component_names())]
    rendered = list(dict.fromkeys([*base, *overlay_objects]))
    made = [ref for ref in await remote_secret.made_here(kube) if ref not in rendered]
    refused = [
        f"ignored {ref}: the {record.ANNOTATION} record lists it, but the globaldns manifests "
        "do not render it"
        for ref in recorded
        if ref not in rendered
    ]
    owned: dict[Ref, str] = {}
    for ref in reversed([*rendered, *made]):
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


def _where(objects: list[Obj], host: str, port: int, zone: str) -> Where:
    """Where the applied globaldns Deployment's pods run, and where to ask them."""
    (deployment,) = (o for o in objects if o["kind"] == "Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    return Where(Ref.of(deployment).namespace, dict(selector), host, port, zone)


async def _cluster_id(kube: Kube, options: InstallOptions) -> str:
    """The name the cluster gets: as given, else istiod's CLUSTER_ID, else the context's; a
    DNS label (an EKS context is an ARN: refused, naming --cluster-id)."""
    name = options.local_cluster
    if not options.named:
        try:
            istiod = await kube.get(ISTIOD)
        except NotServed:
            istiod = None
        containers = (((istiod or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in containers.get("containers") or []:
            for env in container.get("env") or []:
                if env.get("name") == "CLUSTER_ID" and isinstance(env.get("value"), str):
                    name = env["value"]
    if not DNS_LABEL.fullmatch(name):
        where = "the context name" if name == options.local_cluster else "istiod's CLUSTER_ID"
        raise InstallError(
            f"the cluster would be named {name[:80]!r} ({where}), which is not a DNS label; "
            "give --cluster-id NAME (as Istio's CLUSTER_ID names it); nothing was written"
        )
    return name


def own_service(objects: list[Obj]) -> Ref:
    """The globaldns Service among the objects applied (the base's, or the overlay's)."""
    (service,) = (o for o in objects if o["kind"] == "Service" and overlay.own(o))
    return Ref.of(service)


async def cluster_ip(kube: Kube, service_ref: Ref, timeout: float, say: Say) -> str:
    """The globaldns Service's ClusterIP, once the cluster has assigned it (bounded wait)."""
    deadline = time.monotonic() + timeout
    said = False
    while True:
        service = await kube.get(service_ref)
        address = ((service or {}).get("spec") or {}).get("clusterIP")
        if address:
            return str(server_address(address))
        if time.monotonic() >= deadline:
            raise WiringError(
                f"{service_ref} got no ClusterIP within {timeout:g}s; check `kubectl -n "
                f"{service_ref.namespace} get service {service_ref.name}` and run install again"
            )
        if not said:
            say(f"waiting for the ClusterIP of {service_ref}")
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


async def _dns_objects(kube: Kube) -> Found:
    try:
        return await dns_objects(kube)
    except KubeError as err:
        raise InstallError(f"{err}; nothing was written") from None


async def _dry_run(
    targets: list[Target],
    found: Found,
    live: dict[Ref, Obj | None],
    pending: list[Obj],
    service_ref: Ref,
) -> Outcome:
    service = live[service_ref] or {}
    address = (service.get("spec") or {}).get("clusterIP")
    note = ""
    if not address:
        address = PROBE_ADDRESS
        note = f"{service_ref} does not exist yet: {PROBE_ADDRESS} stands for its ClusterIP"
    diff = ""
    for target in targets:
        data = target.data(found[target.ref] or target.blank() or {})
        diff += data_diff(target.ref, data, target.wired(data, address))
    diff += "".join(
        f"would {'update' if live[Ref.of(obj)] else 'create'} {Ref.of(obj)}\n" for obj in pending
    )
    return Outcome(bool(diff), " + ".join(t.via for t in targets), address, note, diff)


def data_diff(ref: Ref, before: dict[str, str], after: dict[str, str]) -> str:
    """A unified diff per changed key of what wiring edits in `ref` (`kube-system/coredns/...`)."""
    where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    return "".join(
        unified_diff(before.get(key, ""), after.get(key, ""), f"{where}/{key}")
        for key in sorted({*before, *after})
    )


async def _write(
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


async def _unwrite(kube: Kube, target: Target) -> tuple[dict[str, str], dict[str, str]]:
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
