"""The Multi-Cluster Services exports feed (SPEC §7): a cluster's ServiceExports, where their
CRD exists, and the local cluster's namespaces (clusterset names exist only for those).

A ServiceExport names a Service of its namespace; that Service, its EndpointSlices and the
export's creationTimestamp make the `Export` the table takes (`export_of`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from globaldns.sources.kubernetes.options import Selection
from globaldns.sources.kubernetes.slim import SlimService, SlimSlice, object_key
from globaldns.table.model import Endpoint, Export, ServiceKind

EXPORTS = "serviceexports"
EXPORTS_PATH = "/apis/multicluster.x-k8s.io/v1alpha1/serviceexports"
LOCAL_NAMESPACES = "local-namespaces"


@dataclass(frozen=True, slots=True)
class SlimExport:
    """A ServiceExport: when it was made (the oldest export wins a conflict, KEP-1645)."""

    since: float


def strip_service_export(
    obj: dict[str, Any], selection: Selection
) -> tuple[str, SlimExport | None]:
    """An export in a namespace whose Services are exported (`Selection`), else none."""
    key = object_key(obj)
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    namespace = meta.get("namespace")
    if not isinstance(namespace, str) or not selection.namespace_exported(namespace):
        return key, None
    return key, SlimExport(_seconds(meta.get("creationTimestamp")))


def _seconds(stamp: Any) -> float:
    """An RFC 3339 time in seconds since the epoch; one that cannot be read counts as the
    newest possible (it never wins a conflict against a readable one)."""
    if not isinstance(stamp, str) or len(stamp) > 64:
        return math.inf
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return math.inf


def strip_namespace_name(obj: dict[str, Any], selection: Selection) -> tuple[str, bool | None]:
    """A namespace of the local cluster: it is there."""
    return object_key(obj), True


def export_of(
    service: SlimService | None, slices: list[SlimSlice], export: SlimExport | None, host: str
) -> Export | None:
    """What a cluster exports of a Service: none without both, or when the Service itself is
    not exported (`Selection`)."""
    if service is None or export is None or not service.exported:
        return None
    ready = sum(s.ready for s in slices)
    endpoints: tuple[Endpoint, ...] = ()
    if not service.headless:
        kind, addresses = ServiceKind.CLUSTERSET_IP, service.cluster_ips
    else:
        kind, addresses = ServiceKind.HEADLESS, ()
        named = (Endpoint(pod.name, pod.addresses) for s in slices for pod in s.pods)
        unnamed = Endpoint("", tuple(dict.fromkeys(a for s in slices for a in s.ready_addresses)))
        endpoints = (*named, unnamed) if unnamed.addresses else tuple(named)
    return Export(
        sys.intern(service.name),
        sys.intern(service.namespace),
        host,
        kind,
        addresses,
        ready,
        service.ports,
        endpoints,
        export.since,
    )
