"""RBAC grants exactly what the server uses: read-only, Secrets only in its own namespace, and
in istio-system (the mesh CA key's namespace) only through the opt-in component.

Each grant is flattened to (namespace or "*", apiGroup, resource, resourceName or "*", verb) so
that any widening (a verb, a resource, a namespace, a dropped resourceName) changes the set.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from globaldns.config.values import NAMESPACE_ENV
from globaldns.install import cluster_dns
from globaldns.install.objects import manifest_objects
from globaldns.install.settings import InstallSettings
from globaldns.install.targets import configmap_ref
from globaldns.manifests import load

from .conftest import find

READ = ("get", "list", "watch")
CLUSTER_WIDE_READS = {
    ("", "services"),
    ("", "nodes"),
    ("", "namespaces"),
    ("discovery.k8s.io", "endpointslices"),
    ("networking.istio.io", "serviceentries"),
}
# The ConfigMaps `install` may wire, which the watchdog checks (and with keep-wired repairs).
DNS_CONFIGMAPS = (
    "coredns",
    "coredns-custom",
    "kube-dns",
    "node-local-dns",
    "rke2-coredns-rke2-coredns",
)
BASE_GRANTS = (
    {("*", group, resource, "*", verb) for group, resource in CLUSTER_WIDE_READS for verb in READ}
    | {("globaldns", "", "secrets", "*", verb) for verb in READ}
    | {("kube-system", "", "configmaps", name, "get") for name in DNS_CONFIGMAPS}
    | {("kube-system", "helm.cattle.io", "helmchartconfigs", "rke2-coredns", "get")}
    | {("*", "operator.openshift.io", "dnses", "default", "get")}
)
# As kustomize renders the component: the Corefile's ConfigMap only (install names the one
# the cluster is wired through, tests/install/test_watchdog.py).
KEEP_WIRED_GRANTS = {
    ("kube-system", "", "configmaps", "coredns", v) for v in ("get", "update", "patch")
}
ISTIO_REMOTE_SECRETS_GRANTS = {("istio-system", "", "secrets", "*", verb) for verb in READ}
SUBJECT = {"kind": "ServiceAccount", "name": "globaldns", "namespace": "globaldns"}
Grant = tuple[str, str, str, str, str]


def _grants(objects: list[dict[str, Any]]) -> set[Grant]:
    """What the globaldns ServiceAccount may do, through the bindings that name it."""
    grants: set[Grant] = set()
    for binding in objects:
        if binding["kind"] not in {"RoleBinding", "ClusterRoleBinding"}:
            continue
        assert binding["subjects"] == [SUBJECT]
        role = find(objects, binding["roleRef"]["kind"], binding["roleRef"]["name"])
        scope = binding["metadata"].get("namespace", "*")
        assert role["metadata"].get("namespace", "*") in {scope, "*"}
        for rule in role["rules"]:
            grants |= {
                (scope, group, resource, name, verb)
                for group in rule["apiGroups"]
                for resource in rule["resources"]
                for name in rule.get("resourceNames", ["*"])
                for verb in rule["verbs"]
            }
    return grants


def _roles(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in {"Role", "ClusterRole"}]


def test_base_grants_exactly_the_reads_the_server_makes(base: list[dict[str, Any]]) -> None:
    assert _grants(base) == BASE_GRANTS


def test_base_never_writes(base: list[dict[str, Any]]) -> None:
    assert {grant[4] for grant in _grants(base)} <= set(READ)


def test_secrets_are_readable_only_in_the_globaldns_namespace(base: list[dict[str, Any]]) -> None:
    assert {g[0] for g in _grants(base) if g[2] == "secrets"} == {"globaldns"}


def test_base_grants_nothing_in_istio_system(base: list[dict[str, Any]]) -> None:
    assert [g for g in _grants(base) if g[0] == "istio-system"] == []


def test_the_istio_remote_secrets_component_adds_only_reading_istio_system_secrets() -> None:
    assert _grants(load(["istio-remote-secrets"])) == BASE_GRANTS | ISTIO_REMOTE_SECRETS_GRANTS


def test_the_istio_remote_secrets_component_points_the_server_at_istio_system() -> None:
    deployment = find(load(["istio-remote-secrets"]), "Deployment", "globaldns")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--remote-secret-namespace") + 1] == "istio-system"


def test_the_server_is_told_its_namespace_for_the_remote_secrets(container: dict[str, Any]) -> None:
    (env,) = [e for e in container["env"] if e["name"] == NAMESPACE_ENV]
    assert env["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_every_role_is_bound_to_the_service_account(keep_wired: list[dict[str, Any]]) -> None:
    bound = {
        (o["roleRef"]["kind"], o["roleRef"]["name"])
        for o in keep_wired
        if o["kind"] in {"RoleBinding", "ClusterRoleBinding"}
    }
    assert {(r["kind"], r["metadata"]["name"]) for r in _roles(keep_wired)} == bound


def test_keep_wired_adds_only_writing_the_dns_configmaps(
    base: list[dict[str, Any]], keep_wired: list[dict[str, Any]]
) -> None:
    assert _grants(keep_wired) == _grants(base) | KEEP_WIRED_GRANTS


def test_keep_wired_role_is_limited_to_the_corefile_configmap(
    keep_wired: list[dict[str, Any]],
) -> None:
    role = find(keep_wired, "Role", "globaldns-coredns-writer")
    assert role["metadata"]["namespace"] == "kube-system"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["coredns"],
            "verbs": ["get", "update", "patch"],
        }
    ]


CORE = {"data": {"Corefile": ".:53 {\n    errors\n}\n"}}
AKS = {"data": {"Corefile": ".:53 {\n    errors\n}\nimport custom/*.server\n"}}
PLATFORMS = {
    "corefile": ({configmap_ref("coredns"): CORE}, "coredns"),
    "aks": ({configmap_ref("coredns"): AKS, configmap_ref("coredns-custom"): {}}, "coredns-custom"),
    "kube-dns": ({configmap_ref("kube-dns"): {"data": {}}}, "kube-dns"),
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_keep_wired_role_as_install_renders_it_names_only_the_configmap_it_wires(
    platform: str,
) -> None:
    found, wired = PLATFORMS[platform]
    target = cluster_dns.target_of(found, "global", 5)
    settings = InstallSettings(keep_wired=True, timeout=1.0)
    options = replace(settings.for_context("c"), wires=target.ref.name)
    role = find(manifest_objects(options), "Role", "globaldns-coredns-writer")
    assert target.ref.name == wired
    assert [rule["resourceNames"] for rule in role["rules"]] == [[wired]]


def test_service_account_token_is_mounted_for_the_watches(deployment: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "globaldns"
    assert pod.get("automountServiceAccountToken", True) is True


def test_the_dns_configmaps_granted_are_the_ones_install_wires() -> None:
    assert DNS_CONFIGMAPS == cluster_dns.DNS_CONFIGMAPS
