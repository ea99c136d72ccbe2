"""The Kubernetes source: Services, EndpointSlices, gateways, ServiceEntries and nodes of every
cluster, watched and stripped to slim records that feed the table."""

from globaldns.sources.kubernetes.clients import KubeconfigError
from globaldns.sources.kubernetes.handoff import SOURCE
from globaldns.sources.kubernetes.options import (
    KUBERNETES_OPTIONS,
    KubeSettings,
    WatchProcessMode,
)
from globaldns.sources.kubernetes.source import KubernetesSource, sync_once
from globaldns.sources.kubernetes.supervisor import WatchProcess

__all__ = [
    "KUBERNETES_OPTIONS",
    "SOURCE",
    "KubeSettings",
    "KubeconfigError",
    "KubernetesSource",
    "WatchProcess",
    "WatchProcessMode",
    "sync_once",
]
