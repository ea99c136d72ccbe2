"""The Multi-Cluster Services imports feed (SPEC §7, `--mcs-imports`): where an MCS
implementation (Submariner Lighthouse, Cilium, GKE) does the multi-cluster work, the local
cluster's ServiceImports and the EndpointSlices it labels with the service and its source
cluster are all globaldns reads: one cluster's watches, whatever the number of clusters.

An import is read as the Service it stands for (`spec.ips` its ClusterIPs, `spec.type` Headless
its headlessness, its ports), and each labelled slice as the slice of that Service in its source
cluster; `Imports` hands the table one `Export` per source cluster (the local cluster's name
holds a VIP no slice names yet).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from globaldns.sources.kubernetes.handoff import Changes
from globaldns.sources.kubernetes.mcs import SlimExport, export_of
from globaldns.sources.kubernetes.options import Selection
from globaldns.sources.kubernetes.slim import (
    SERVICE_NAME_LABEL,
    SlimService,
    SlimSlice,
    object_key,
    strip_endpoint_slice,
    strip_service,
)
from globaldns.table.model import Export

IMPORTS = "serviceimports"
IMPORTS_PATH = "/apis/multicluster.x-k8s.io/v1alpha1/serviceimports"
IMPORT_SLICES = "import-slices"
SERVICE_LABEL = "multicluster.kubernetes.io/service-name"
SOURCE_LABEL = "multicluster.kubernetes.io/source-cluster"
_IMPORTED = SlimExport(0.0)  # an import has no export time: it is the clusterset's own say


def strip_service_import(obj: dict[str, Any], selection: Selection) -> tuple[str, Any]:
    """A ServiceImport as the Service it stands for (None: not one to serve)."""
    meta = obj.get("metadata")
    spec = obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    headless = spec.get("type") == "Headless"
    ips = ["None"] if headless else spec.get("ips")
    service = {"metadata": meta, "spec": {"clusterIPs": ips, "ports": spec.get("ports")}}
    return strip_service(service, selection)


def strip_import_slice(obj: dict[str, Any], selection: Selection) -> tuple[str, Any]:
    """A labelled EndpointSlice as (source cluster, the imported Service's slice) there."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    labels = meta.get("labels")
    labels = labels if isinstance(labels, dict) else {}
    service, cluster = labels.get(SERVICE_LABEL), labels.get(SOURCE_LABEL)
    if not isinstance(service, str) or not isinstance(cluster, str) or not _is_label(cluster):
        return object_key(obj), None
    relabelled = {**meta, "labels": {SERVICE_NAME_LABEL: service}}
    key, found = strip_endpoint_slice({**obj, "metadata": relabelled}, selection)
    return key, (cluster.lower(), found) if found is not None else None


def _is_label(text: str) -> bool:
    return 0 < len(text) <= 63 and text.replace("-", "").isalnum() and text.isascii()


class Imports:
    """The local cluster's imports and their slices, handed over as Exports as they change."""

    def __init__(self, local: str, outbox: Changes) -> None:
        self.local = local
        self.outbox = outbox
        self.imports: dict[str, SlimService] = {}  # namespace/name ->
        self.slices: dict[str, tuple[str, SlimSlice]] = {}  # slice key -> (cluster, slice)
        self._sent: dict[str, dict[str, Export]] = {}  # namespace/name -> cluster -> handed over

    def on_import(self, key: str, old: Any, new: SlimService | None) -> None:
        if new is None:
            self.imports.pop(key, None)
        else:
            self.imports[key] = new
        self._publish(key)

    def on_slice(self, key: str, old: Any, new: tuple[str, SlimSlice] | None) -> None:
        if new is None:
            self.slices.pop(key, None)
        else:
            self.slices[key] = new
        for found in (old, new):
            if found is not None:
                self._publish(found[1].service)

    def _publish(self, key: str) -> None:
        service = self.imports.get(key)
        by_cluster: dict[str, list[SlimSlice]] = {}
        for cluster, found in self.slices.values():
            if found.service == key:
                by_cluster.setdefault(cluster, []).append(found)
        if service is not None and not by_cluster and service.cluster_ips:
            by_cluster[self.local] = []  # a VIP no slice names yet
        host = f"{service.name}.{service.namespace}" if service is not None else ""
        exports: dict[str, Export] = {}
        for cluster, slices in by_cluster.items():
            exported = export_of(service, slices, _IMPORTED, host)
            if exported is not None:  # its ClusterIPs are the import's spec.ips: VIPs
                exports[cluster] = replace(exported, vip=bool(exported.addresses))
        sent = self._sent.pop(key, {})
        for cluster in sent.keys() - exports.keys():
            self.outbox.put_export(cluster, f"import:{key}", None)
        for cluster, export in exports.items():
            if sent.get(cluster) != export:
                self.outbox.put_export(cluster, f"import:{key}", export)
        if exports:
            self._sent[key] = exports
