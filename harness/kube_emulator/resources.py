"""The API resource types the emulator serves, described once so storage, routing and discovery
share one table and adding a resource is one line."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One resource as served at one group/version; `storage` is shared across versions."""

    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    singular: str
    short_names: tuple[str, ...] = ()
    crd: bool = False
    # Writes to the object leave `status` alone; `<name>/status` writes only `status`.
    status_subresource: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage(self) -> tuple[str, str]:
        return (self.group, self.resource)

    def discovery_entry(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "name": self.resource,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(ALL_VERBS),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        return entry

    def discovery_entries(self) -> list[dict[str, object]]:
        """The resource, and its status subresource when it has one, as discovery lists them."""
        if not self.status_subresource:
            return [self.discovery_entry()]
        status = {
            "name": f"{self.resource}/status",
            "singularName": "",
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["get", "patch", "update"],
        }
        return [self.discovery_entry(), status]


def _builtin(
    group: str, version: str, resource: str, kind: str, namespaced: bool, *short: str
) -> ResourceType:
    return ResourceType(group, version, resource, kind, namespaced, kind.lower(), short)


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _builtin("", "v1", "namespaces", "Namespace", False, "ns"),
    _builtin("", "v1", "nodes", "Node", False, "no"),
    _builtin("", "v1", "services", "Service", True, "svc"),
    _builtin("", "v1", "configmaps", "ConfigMap", True, "cm"),
    _builtin("", "v1", "secrets", "Secret", True),
    _builtin("", "v1", "pods", "Pod", True, "po"),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, "sa"),
    _builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    _builtin("apps", "v1", "deployments", "Deployment", True, "deploy"),
    _builtin("apps", "v1", "replicasets", "ReplicaSet", True, "rs"),
    _builtin("apps", "v1", "daemonsets", "DaemonSet", True, "ds"),
    _builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, "pdb"),
    _builtin("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, "netpol"),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
)

SERVICE_ENTRY_TYPES: tuple[ResourceType, ...] = tuple(
    ResourceType(
        "networking.istio.io",
        version,
        "serviceentries",
        "ServiceEntry",
        True,
        "serviceentry",
        ("se",),
        crd=True,
    )
    for version in ("v1", "v1beta1")
)


def _mcs(resource: str, kind: str, short: str) -> ResourceType:
    """A Multi-Cluster Services kind as kubernetes-sigs/mcs-api's v1alpha1 CRDs define it."""
    singular = kind.lower()
    group = "multicluster.x-k8s.io"
    return ResourceType(group, "v1alpha1", resource, kind, True, singular, (short,), True, True)


# Optional CRDs (`Cluster.set_crd`): RKE2's HelmChartConfig and OpenShift's DNS operator
# configuration, absent unless a test installs them; the Multi-Cluster Services API (KEP-1645),
# installed unless a test removes it (`DEFAULT_CRDS`), as the ServiceEntry CRD is.
PLATFORM_CRDS: dict[str, ResourceType] = {
    "helmchartconfigs": ResourceType(
        "helm.cattle.io",
        "v1",
        "helmchartconfigs",
        "HelmChartConfig",
        True,
        "helmchartconfig",
        crd=True,
    ),
    "dnses": ResourceType("operator.openshift.io", "v1", "dnses", "DNS", False, "dns", crd=True),
    "serviceexports": _mcs("serviceexports", "ServiceExport", "svcex"),
    "serviceimports": _mcs("serviceimports", "ServiceImport", "svcim"),
}
DEFAULT_CRDS = ("serviceexports", "serviceimports")


class ResourceCatalog:
    """Resolves paths and kinds to resource types, given whether the ServiceEntry CRD exists."""

    def __init__(self, service_entries_installed: bool) -> None:
        self.platform_crds: set[str] = set(DEFAULT_CRDS)
        self.service_entries_installed = service_entries_installed

    @property
    def service_entries_installed(self) -> bool:
        return self._service_entries_installed

    @service_entries_installed.setter
    def service_entries_installed(self, installed: bool) -> None:
        self._service_entries_installed = installed
        self._types = BUILTIN_TYPES + SERVICE_ENTRY_TYPES if installed else BUILTIN_TYPES
        self._types += tuple(PLATFORM_CRDS[name] for name in sorted(self.platform_crds))
        self._by_path = {(t.group, t.version, t.resource): t for t in self._types}
        self._by_kind = {(t.api_version, t.kind): t for t in self._types}

    def set_platform_crd(self, name: str, installed: bool) -> None:
        """Serve (or stop serving) one of `PLATFORM_CRDS`."""
        if name not in PLATFORM_CRDS:
            raise KeyError(name)
        (self.platform_crds.add if installed else self.platform_crds.discard)(name)
        self.service_entries_installed = self.service_entries_installed  # rebuild the tables

    def types(self) -> tuple[ResourceType, ...]:
        return self._types

    def by_path(self, group: str, version: str, resource: str) -> ResourceType | None:
        return self._by_path.get((group, version, resource))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def group_versions(self) -> dict[str, list[str]]:
        """Group name -> served versions, preferred first, in registration order."""
        groups: dict[str, list[str]] = {}
        for rtype in self._types:
            versions = groups.setdefault(rtype.group, [])
            if rtype.version not in versions:
                versions.append(rtype.version)
        return groups

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types if (t.group, t.version) == (group, version)]
