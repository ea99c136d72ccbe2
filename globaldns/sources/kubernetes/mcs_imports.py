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

import msgspec

from globaldns.sources.kubernetes.handoff import Changes
from globaldns.sources.kubernetes.mcs import SlimExport, export_of
from globaldns.sources.kubernetes.objects import SLICES, SliceObject, lenient
from globaldns.sources.kubernetes.options import Selection
from globaldns.sources.kubernetes.slim import (
    DNS_LABEL,
    SERVICE_NAME_LABEL,
    SlimService,
    SlimSlice,
    meta_key,
    slice_record,
    strip_service,
)
from globaldns.table.model import Endpoint, Export, ServiceKind

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
    return import_slice_record(lenient(obj, SliceObject), selection)


def decode_import_slice(raw: bytes, selection: Selection) -> tuple[str, Any]:
    """`strip_import_slice` of an object's bytes (200,000 at 200 x 1,000 in a first sync);
    `msgspec.DecodeError` when a value has the wrong type (the caller strips its dict)."""
    return import_slice_record(SLICES.decode(raw), selection)


def import_slice_record(obj: SliceObject, selection: Selection) -> tuple[str, Any]:
    labels = obj.metadata.labels
    service, cluster = labels.get(SERVICE_LABEL), labels.get(SOURCE_LABEL)
    if not isinstance(service, str) or not isinstance(cluster, str) or not _is_label(cluster):
        return meta_key(obj.metadata), None
    meta = msgspec.structs.replace(obj.metadata, labels={SERVICE_NAME_LABEL: service})
    key, found = slice_record(msgspec.structs.replace(obj, metadata=meta), selection)
    return key, (cluster.lower(), found) if found is not None else None


def _is_label(text: str) -> bool:
    """A DNS label, any case: a headless import's pods are named below it."""
    return DNS_LABEL.fullmatch(text.lower()) is not None


class Imports:
    """The local cluster's imports and their slices, handed over as Exports as they change.

    Slices are grouped by service and source cluster, and a slice change republishes only its
    own cluster's export: a first sync of 1,000 imports from 200 clusters is 200,000 slices,
    each costing what its cluster's few slices cost, never the whole feed's.
    """

    def __init__(self, local: str, outbox: Changes) -> None:
        self.local = local
        self.outbox = outbox
        self.imports: dict[str, SlimService] = {}  # namespace/name ->
        self.slices: dict[str, tuple[str, SlimSlice]] = {}  # slice key -> (cluster, slice)
        # namespace/name -> cluster -> slice key -> slice
        self.grouped: dict[str, dict[str, dict[str, SlimSlice]]] = {}
        self._sent: dict[str, dict[str, Export]] = {}  # namespace/name -> cluster -> handed over

    def on_import(self, key: str, old: Any, new: SlimService | None) -> None:
        if new is None:
            self.imports.pop(key, None)
        else:
            self.imports[key] = new
        clusters = {self.local, *self.grouped.get(key, {}), *self._sent.get(key, {})}
        for cluster in clusters:
            self._publish(key, cluster)

    def on_slice(self, key: str, old: Any, new: tuple[str, SlimSlice] | None) -> None:
        gone = self.slices.pop(key, None)
        if gone is not None:
            cluster, found = gone
            held = self.grouped[found.service]
            del held[cluster][key]
            if not held[cluster]:
                del held[cluster]
            if not held:
                del self.grouped[found.service]
        if new is not None:
            self.slices[key] = new
            cluster, found = new
            self.grouped.setdefault(found.service, {}).setdefault(cluster, {})[key] = found
        for cluster, service in {(c, f.service) for c, f in filter(None, (gone, new))}:
            self._publish(service, cluster)
            self._publish(service, self.local)  # a VIP no slice names yet comes or goes

    def _publish(self, key: str, cluster: str) -> None:
        """Hand over what `cluster` has of the import `key`, when that changed."""
        export = self._export(key, cluster)
        sent = self._sent.get(key, {})
        if sent.get(cluster) == export:
            return
        self.outbox.put_export(cluster, f"import:{key}", export)
        if export is None:
            sent.pop(cluster, None)
            if not sent:
                self._sent.pop(key, None)
        else:
            self._sent.setdefault(key, {})[cluster] = export

    def _export(self, key: str, cluster: str) -> Export | None:
        """The import as one source cluster has it; the local cluster's name holds a VIP
        that no slice names yet. Its ClusterIPs are the import's spec.ips: VIPs."""
        service = self.imports.get(key)
        if service is None:
            return None
        by_cluster = self.grouped.get(key, {})
        slices = list(by_cluster.get(cluster, {}).values())
        if not slices and (cluster != self.local or by_cluster or not service.cluster_ips):
            return None
        host = f"{service.name}.{service.namespace}"
        exported = export_of(service, slices, _IMPORTED, host)
        if exported is None:
            return None
        if exported.kind == ServiceKind.CLUSTERSET_IP:  # `global.`'s last tier: the endpoints
            ready = tuple(dict.fromkeys(a for s in slices for a in s.ready_addresses))
            endpoints = (Endpoint("", ready),) if ready else ()
            return replace(
                exported, vip=bool(exported.addresses), endpoints=endpoints, imported=True
            )
        return replace(exported, imported=True)
