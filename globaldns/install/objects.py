"""The objects install applies (the manifests, or the operator's overlay, made this cluster's)
and, of what the manifests render, the objects uninstall may delete."""

from __future__ import annotations

from typing import Any

import yaml

from globaldns import manifests
from globaldns.install import overlay, record, remote_secret
from globaldns.install.kube import Kube, NotServed, Obj, Ref
from globaldns.install.options import InstallOptions
from globaldns.install.zones import WIRING_ZONES

SERVICE = Ref("v1", "Service", "globaldns", "globaldns")
# components/keep-wired: may write only the one ConfigMap install wired (`InstallOptions.wires`).
WRITER_ROLE = Ref("rbac.authorization.k8s.io/v1", "Role", "kube-system", "globaldns-coredns-writer")
# Every object the manifests render carries it; uninstall deletes nothing without it.
OWN_LABEL, OWN_LABEL_VALUE = overlay.OWN_LABEL, overlay.OWN_LABEL_VALUE
KEEP_WIRED = "keep-wired"
NETWORK_POLICY = "networkpolicy"


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
            if options.also:  # the watchdog checks (and keep-wired restores) these too
                config[WIRING_ZONES.key] = list(options.also)
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


async def where_namespaces_exist(kube: Kube, objects: list[Obj]) -> tuple[list[Obj], str]:
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


def own_service(objects: list[Obj]) -> Ref:
    """The globaldns Service among the objects applied (the base's, or the overlay's)."""
    (service,) = (o for o in objects if o["kind"] == "Service" and overlay.own(o))
    return Ref.of(service)


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


async def deletable(
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
