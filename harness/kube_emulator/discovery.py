"""Discovery documents (/api, /apis, /apis/<group>[/<version>], /version) built from the catalog,
so a resource appears in discovery exactly when its paths are served."""

from __future__ import annotations

from typing import Any

from .resources import ResourceCatalog

VERSION_INFO = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-kube-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T00:00:00Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def core_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def group_list(catalog: ResourceCatalog) -> dict[str, Any]:
    groups = [_group(g, vs) for g, vs in catalog.group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(catalog: ResourceCatalog, name: str) -> dict[str, Any] | None:
    versions = catalog.group_versions().get(name) if name else None
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(catalog: ResourceCatalog, group_name: str, version: str) -> dict[str, Any] | None:
    types = catalog.in_group_version(group_name, version)
    if not types:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": types[0].api_version,
        "resources": [entry for t in types for entry in t.discovery_entries()],
    }
