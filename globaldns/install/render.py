"""`globaldns install --render`: what install would apply, printed without contacting a cluster.

The output is a YAML stream: each context's objects exactly as `install` applies them (its
local cluster, the image, keep-wired), then the Corefile edit for a saved Corefile as comments,
so it can be read, diffed or piped to `kubectl apply -f -` as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from globaldns.config import ConfigError
from globaldns.install.cluster_dns import data_diff, target_of
from globaldns.install.coredns_custom import CUSTOM_CONFIGMAP
from globaldns.install.corefile import CorefileError, fqdn
from globaldns.install.kube import Ref
from globaldns.install.objects import WRITER_ROLE, manifest_objects
from globaldns.install.settings import InstallSettings
from globaldns.install.targets import (
    COREDNS,
    COREFILE,
    KUBE_DNS,
    PROBE_ADDRESS,
    Found,
    WiringError,
    configmap_ref,
)
from globaldns.install.zones import across, multicluster_zones


def render(settings: InstallSettings, contexts: list[str]) -> str:
    """The manifests for each context and, given `--corefile`, the edit install makes to it."""
    options = {context: settings.for_context(context) for context in contexts}
    parts = [
        f"# context {context}: the objects `globaldns install` applies (objects in a namespace "
        "the cluster lacks, such as istio-system, are skipped)\n"
        + _writer_note(objects)
        + yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True)
        for context, objects in ((c, manifest_objects(each)) for c, each in options.items())
    ]
    corefile = settings.corefile
    if corefile is None:
        parts.append("# no --corefile FILE given: the Corefile edit is not shown\n")
    else:
        first = options[contexts[0]]
        parts.append(corefile_edit(corefile, settings.zone, first.cache, first.also))
    return "".join(parts)


def _writer_note(objects: list[dict[str, Any]]) -> str:
    """Where keep-wired is rendered: its Role assumes the Corefile; install asks the cluster."""
    if not any(Ref.of(obj) == WRITER_ROLE for obj in objects):
        return ""
    return (
        f"# {WRITER_ROLE} may write only kube-system/{COREDNS} here; install names the "
        f"ConfigMap the cluster is wired through ({CUSTOM_CONFIGMAP} on AKS, {KUBE_DNS} "
        "for kube-dns)\n"
    )


def corefile_edit(path: Path, zone: str, ttl: int, also: tuple[str, ...] = ()) -> str:
    """The edit install makes to this saved Corefile, as YAML comments (`also`: `--zones`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"--corefile {path}: cannot read it: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--corefile {path}: not UTF-8 text; save the Corefile itself") from None
    found: Found = {configmap_ref(COREDNS): {"data": {COREFILE: text}}}
    served = multicluster_zones({COREFILE: text}) if also else set()
    for extra in also:
        if fqdn(extra) in served:
            raise ConfigError(f"--corefile {path}: it serves {extra} itself (multicluster)")
    try:
        target = across(target_of(found, zone, ttl), also, ttl)
        data = target.data(found.get(target.ref) or target.blank() or {})
        diff = data_diff(target.ref, data, target.wired(data, PROBE_ADDRESS))
    except (WiringError, CorefileError) as err:
        raise ConfigError(f"--corefile {path}: {err}") from None
    head = (
        f"# the edit to {target.ref} (for the Corefile {path}), {PROBE_ADDRESS} standing for "
        "the globaldns Service's ClusterIP:\n"
    )
    if not diff:
        return f"{head}# none: it already forwards {zone}. to globaldns\n"
    return head + "".join(f"# {line}" for line in diff.splitlines(keepends=True))
