"""`install` in one cluster: apply the manifests, wait for a pod that answers, wire its DNS.

Order matters for "nothing half-written": everything that can refuse (reads, an unparsable
Corefile, a missing ConfigMap) is checked before the first write; if a later write fails, the
objects this run created are deleted again. Writes to the DNS ConfigMap carry the
resourceVersion they were computed from and are recomputed on a 409.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import TypeVar

from globaldns.install import overlay, record
from globaldns.install.cluster_dns import (
    CONFLICT_RETRIES,
    NODE_LOCAL,
    data_diff,
    read_dns_objects,
    restart_coredns,
    unwrite,
    wired_targets,
    write,
)
from globaldns.install.corefile import CorefileError
from globaldns.install.kube import Conflict, Kube, KubeError, NotServed, Obj, Ref
from globaldns.install.objects import (
    NETWORK_POLICY,
    contains,
    manifest_objects,
    own_service,
    where_namespaces_exist,
)
from globaldns.install.options import DNS_LABEL, InstallError, InstallOptions, Outcome, Say
from globaldns.install.rollout import NotAnswering, Where, wait_until_answering
from globaldns.install.targets import NODE_LOCAL_DNS, PROBE_ADDRESS, Found, Target, WiringError
from globaldns.install.wiring import AddressError, server_address
from globaldns.install.zones import across, refuse_served

ISTIOD = Ref("apps/v1", "Deployment", "istio-system", "istiod")
DNS_PORT = 53

T = TypeVar("T")


async def install(kube: Kube, options: InstallOptions, say: Say) -> Outcome:
    """Apply the manifests, wait until a pod answers, then wire the cluster's DNS to it; what
    this run created or wired is undone when a later step fails."""
    options, found, targets = await _checked(kube, options, say)
    via = " + ".join(target.via for target in targets)
    try:
        objects, skipped = await where_namespaces_exist(kube, manifest_objects(options))
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
        where = _where(objects, host, port, (options.zone, *options.also))
        await wait_until_answering(kube, where, options.timeout, say)
        applied = tuple(Ref.of(o) for o in objects)
        unchanged: list[str] = []
        for target in targets:
            say(f"wiring {target.via} to {address}")
            before, after = await write(kube, target, address, applied)
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
        notes.append(await restart_coredns(kube, say))
    if NODE_LOCAL in restart:
        notes.append(f"{NODE_LOCAL_DNS} has no reload plugin: restart its pods to see the change")
    if unchanged:
        notes.append(f"{' + '.join(unchanged)} already wired")
    changed = bool(pending) or len(unchanged) < len(targets)
    return Outcome(changed, via, address, "; ".join(notes))


async def _checked(
    kube: Kube, options: InstallOptions, say: Say
) -> tuple[InstallOptions, Found, list[Target]]:
    """What the cluster is wired through, and the options it settles (its name, the ConfigMap
    keep-wired may write), refused before anything is written."""
    say("reading kube-system DNS ConfigMaps")
    found = await read_dns_objects(kube)
    try:
        targets = await wired_targets(kube, found, options.zone, options.cache)
        targets = [_with_zones(target, found, options) for target in targets]
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
    return options, found, targets


def _with_zones(target: Target, found: Found, options: InstallOptions) -> Target:
    """The target wiring `--zones` too, tried up front; a zone CoreDNS's `kubernetes` plugin
    serves itself (`multicluster`) is refused: both would answer it."""
    if not options.also:
        return target
    refuse_served(found, options.also)
    zoned = across(target, options.also, options.cache)
    zoned.wired(target.data(found[target.ref] or {}), PROBE_ADDRESS)
    return zoned


async def _unwire_after_failure(kube: Kube, written: list[Target]) -> str:
    """Undo the wiring this run wrote before a later step failed; says so, or what is left."""
    left: list[str] = []
    for target in written:
        try:
            await unwrite(kube, target)
        except (KubeError, WiringError, CorefileError, record.RecordError):
            left.append(str(target.ref))
    if left:
        return f"could not unwire {', '.join(left)}: run uninstall; "
    return "unwired what this run had wired; " if written else ""


def _where(objects: list[Obj], host: str, port: int, zones: tuple[str, ...]) -> Where:
    """Where the applied globaldns Deployment's pods run, and where to ask them for which
    zones."""
    (deployment,) = (o for o in objects if o["kind"] == "Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    return Where(Ref.of(deployment).namespace, dict(selector), host, port, zones)


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
