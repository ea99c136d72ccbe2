"""`globaldns install` / `uninstall` against emulated clusters: what they apply, dry runs,
several clusters at once, and other platforms' DNS (AKS coredns-custom, kube-dns, no reload)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from globaldns.install.coredns_custom import server_content

from .conftest import AKS_COREFILE, KUBEADM_COREFILE, Clusters, configmap

NO_RELOAD_COREFILE = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n"
COREDNS_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "coredns", "namespace": "kube-system"},
    "spec": {"template": {"metadata": {"labels": {"k8s-app": "kube-dns"}}}},
}


def test_install_applies_the_manifests_with_the_context_as_local_cluster_and_the_image(
    cluster: Clusters,
) -> None:
    (name,) = cluster.names
    assert cluster.globaldns("install", "--image", "registry.example/globaldns:dev").status == 0
    config = yaml.safe_load(
        cluster.configmap(name, "globaldns", "globaldns")["data"]["config.yaml"]
    )
    (deployment,) = cluster.control.objects(name, "apps/v1", "Deployment", "globaldns")
    assert config["localCluster"] == name
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example/globaldns:dev"
    )


def test_install_applies_with_server_side_apply_as_globaldns(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.globaldns("install")
    patches = [r for r in cluster.control.requests(name) if r["method"] == "PATCH"]
    assert patches
    assert all(r["contentType"] == "application/apply-patch+yaml" for r in patches)
    assert all("fieldManager=globaldns" in r["query"] for r in patches)


def test_dry_run_prints_the_corefile_diff_and_writes_nothing(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.control.clear_requests(name)
    run = cluster.globaldns("install", "--dry-run")
    assert run.status == 0
    assert "+global:53 {" in run.out
    assert "would create Service globaldns/globaldns" in run.out
    assert cluster.writes(name) == []


def test_uninstall_dry_run_prints_the_restore_and_writes_nothing(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.globaldns("install")
    cluster.control.clear_requests(name)
    run = cluster.globaldns("uninstall", "--dry-run")
    assert "-global:53 {" in run.out
    assert "would delete Namespace globaldns" in run.out
    assert cluster.writes(name) == []


def test_reinstall_keeps_the_corefile_saved_by_the_first_install(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.globaldns("install")
    cluster.globaldns("install", "--ttl", "7")
    assert "cache 7" in cluster.corefile(name)
    cluster.globaldns("uninstall")
    assert cluster.corefile(name) == KUBEADM_COREFILE


def test_contexts_all_wires_every_cluster_with_a_progress_line_each_and_a_summary(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(3)
    run = clusters.globaldns("install", "--contexts", "all")
    assert run.status == 0
    for name in clusters.names:
        assert f"{name}: wiring Corefile to " in run.err
        assert "global:53 {" in clusters.corefile(name)
        assert any(line.split()[:2] == [name, "installed"] for line in run.out.splitlines())
    assert "3/3 clusters ok" in run.out


def test_named_contexts_select_only_those_clusters(make_clusters: Callable[..., Clusters]) -> None:
    clusters = make_clusters(3)
    first, second, third = clusters.names
    assert clusters.globaldns("install", "--contexts", f"{first},{third}").status == 0
    assert "global:53" in clusters.corefile(first) + clusters.corefile(third)
    assert clusters.corefile(second) == KUBEADM_COREFILE


def test_an_unknown_context_is_a_usage_error_naming_the_known_ones(cluster: Clusters) -> None:
    run = cluster.globaldns("install", "--contexts", "nowhere")
    assert run.status == 2
    assert "nowhere" in run.err and cluster.names[0] in run.err


def test_aks_wires_coredns_custom_and_leaves_the_managed_corefile_alone(
    cluster: Clusters,
) -> None:
    (name,) = cluster.names
    cluster.control.put(name, configmap("coredns", {"Corefile": AKS_COREFILE}))
    cluster.control.put(name, configmap("coredns-custom", {"test.override": "log\n"}))
    assert cluster.globaldns("install").status == 0
    custom = cluster.configmap(name, "coredns-custom")["data"]
    (service,) = cluster.control.objects(name, "v1", "Service", "globaldns")
    assert custom == {
        "test.override": "log\n",
        "global.server": server_content(service["spec"]["clusterIP"]),
    }
    assert cluster.corefile(name) == AKS_COREFILE


def test_aks_uninstall_restores_coredns_custom(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.control.put(name, configmap("coredns", {"Corefile": AKS_COREFILE}))
    cluster.control.put(name, configmap("coredns-custom", {"test.override": "log\n"}))
    cluster.globaldns("install")
    assert cluster.globaldns("uninstall").status == 0
    custom = cluster.configmap(name, "coredns-custom")
    assert custom["data"] == {"test.override": "log\n"}
    assert "annotations" not in custom["metadata"]


def test_kube_dns_gets_a_stub_domain_for_the_zone(make_clusters: Callable[..., Clusters]) -> None:
    clusters = make_clusters(corefile=None)
    (name,) = clusters.names
    stubs = '{"acme.local": ["1.2.3.4"]}'
    clusters.control.put(name, configmap("kube-dns", {"stubDomains": stubs}))
    assert clusters.globaldns("install").status == 0
    (service,) = clusters.control.objects(name, "v1", "Service", "globaldns")
    data = clusters.configmap(name, "kube-dns")["data"]
    assert json.loads(data["stubDomains"]) == {
        "acme.local": ["1.2.3.4"],
        "global": [service["spec"]["clusterIP"]],
    }


def test_kube_dns_uninstall_restores_the_stub_domains_text(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(corefile=None)
    (name,) = clusters.names
    stubs = '{ "acme.local" : ["1.2.3.4"] }'
    clusters.control.put(name, configmap("kube-dns", {"stubDomains": stubs}))
    clusters.globaldns("install")
    assert clusters.globaldns("uninstall").status == 0
    assert clusters.configmap(name, "kube-dns")["data"] == {"stubDomains": stubs}


def test_corefile_without_reload_gets_coredns_restarted(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(corefile=NO_RELOAD_COREFILE)
    (name,) = clusters.names
    clusters.control.put(name, COREDNS_DEPLOYMENT)
    run = clusters.globaldns("install")
    (live,) = clusters.control.objects(name, "apps/v1", "Deployment", "kube-system")
    assert (
        "kubectl.kubernetes.io/restartedAt" in live["spec"]["template"]["metadata"]["annotations"]
    )
    assert "no reload plugin" in run.out


def test_corefile_without_reload_and_no_deployment_says_to_restart_by_hand(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(corefile=NO_RELOAD_COREFILE)
    run = clusters.globaldns("install")
    assert run.status == 0
    assert "restart the CoreDNS pods by hand" in run.out


def test_uninstall_where_nothing_was_installed_changes_nothing(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.control.clear_requests(name)
    run = cluster.globaldns("uninstall")
    assert run.status == 0
    assert "not installed" in run.out
    assert cluster.writes(name) == []


def test_install_without_istio_system_skips_only_its_role_and_says_so(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.control.delete(name, "v1", "Namespace", "istio-system")
    run = cluster.globaldns("install", "--component", "istio-remote-secrets")
    assert run.status == 0
    assert "skipped Role istio-system/globaldns-istio-remote-secrets" in run.out
    assert "no namespace istio-system" in run.out
    assert "global:53 {" in cluster.corefile(name)


def test_uninstall_after_a_skipped_role_deletes_what_was_applied(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.control.delete(name, "v1", "Namespace", "istio-system")
    cluster.globaldns("install", "--component", "istio-remote-secrets")
    assert cluster.globaldns("uninstall").status == 0
    assert cluster.corefile(name) == KUBEADM_COREFILE
    assert cluster.control.objects(name, "apps/v1", "Deployment", "globaldns") == []


def _plant_in_record(clusters: Clusters, name: str, *refs: list[str]) -> None:
    """Add entries to the install record on kube-system/coredns, as anyone who can edit it can."""
    coredns = clusters.configmap(name, "coredns")
    annotations = coredns["metadata"]["annotations"]
    planted = json.loads(annotations["globaldns.io/install"])
    planted["applied"] += refs
    annotations["globaldns.io/install"] = json.dumps(planted)
    clusters.control.put(name, coredns)


def test_uninstall_ignores_a_record_entry_the_manifests_do_not_render(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.globaldns("install")
    cluster.control.put(name, COREDNS_DEPLOYMENT)
    _plant_in_record(cluster, name, ["apps/v1", "Deployment", "kube-system", "coredns"])
    run = cluster.globaldns("uninstall")
    assert run.status == 0
    assert "ignored Deployment kube-system/coredns: the globaldns.io/install record lists it" in (
        run.err
    )
    assert [
        d["metadata"]["name"] for d in cluster.control.objects(name, "apps/v1", "Deployment")
    ] == ["coredns"]
    assert cluster.corefile(name) == KUBEADM_COREFILE


def test_uninstall_keeps_an_object_of_a_rendered_name_without_the_globaldns_label(
    cluster: Clusters,
) -> None:
    (name,) = cluster.names
    cluster.globaldns("install")
    reader = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "globaldns-reader"},
        "rules": [],
    }
    cluster.control.delete(name, "rbac.authorization.k8s.io/v1", "ClusterRole", "globaldns-reader")
    cluster.control.put(name, reader)
    run = cluster.globaldns("uninstall")
    assert run.status == 0
    assert "kept ClusterRole globaldns-reader: it is not labelled" in run.out
    roles = cluster.control.objects(name, "rbac.authorization.k8s.io/v1", "ClusterRole")
    assert [role["metadata"]["name"] for role in roles] == ["globaldns-reader"]
    assert cluster.control.objects(name, "apps/v1", "Deployment", "globaldns") == []


def test_uninstall_dry_run_names_only_labelled_manifest_objects(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.globaldns("install")
    cluster.control.put(name, COREDNS_DEPLOYMENT)
    _plant_in_record(cluster, name, ["apps/v1", "Deployment", "kube-system", "coredns"])
    run = cluster.globaldns("uninstall", "--dry-run")
    assert "would delete Deployment globaldns/globaldns" in run.out
    assert "would delete Deployment kube-system/coredns" not in run.out
    assert "ignored Deployment kube-system/coredns" in run.out


def test_a_record_that_is_not_one_install_wrote_is_refused_and_nothing_written(
    cluster: Clusters,
) -> None:
    (name,) = cluster.names
    cluster.globaldns("install")
    _plant_in_record(cluster, name, ["apps/v1", "Deployment"])
    cluster.control.clear_requests(name)
    run = cluster.globaldns("uninstall")
    assert run.status == 1
    assert "kube-system/coredns: the globaldns.io/install annotation is not a record" in run.out
    assert "nothing was written" in run.out
    assert cluster.writes(name) == []


def test_component_keep_wired_on_aks_lets_the_server_write_only_coredns_custom(
    cluster: Clusters,
) -> None:
    (name,) = cluster.names
    cluster.control.put(name, configmap("coredns", {"Corefile": AKS_COREFILE}))
    cluster.control.put(name, configmap("coredns-custom", {"test.override": "log\n"}))
    assert cluster.globaldns("install", "--component", "keep-wired").status == 0
    roles = cluster.control.objects(name, "rbac.authorization.k8s.io/v1", "Role", "kube-system")
    (writer,) = [r for r in roles if r["metadata"]["name"] == "globaldns-coredns-writer"]
    assert [rule["resourceNames"] for rule in writer["rules"]] == [["coredns-custom"]]


def _secret_roles(clusters: Clusters, name: str, namespace: str) -> list[str]:
    return [
        obj["metadata"]["name"]
        for obj in clusters.control.objects(name, "rbac.authorization.k8s.io/v1", "Role", namespace)
    ]


def test_install_reads_remote_secrets_in_its_own_namespace_and_nothing_in_istio_system(
    cluster: Clusters,
) -> None:
    (name,) = cluster.names
    assert cluster.globaldns("install").status == 0
    assert "globaldns-remote-secrets" in _secret_roles(cluster, name, "globaldns")
    assert _secret_roles(cluster, name, "istio-system") == []


def test_install_with_the_istio_component_grants_the_read_in_istio_system(
    cluster: Clusters,
) -> None:
    (name,) = cluster.names
    assert cluster.globaldns("install", "--component", "istio-remote-secrets").status == 0
    assert _secret_roles(cluster, name, "istio-system") == ["globaldns-istio-remote-secrets"]
    (deployment,) = cluster.control.objects(name, "apps/v1", "Deployment", "globaldns")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--remote-secret-namespace") + 1] == "istio-system"


def _remote_secret_names(clusters: Clusters, name: str, namespace: str) -> list[str]:
    return sorted(
        s["metadata"]["name"]
        for s in clusters.control.objects(name, "v1", "Secret", namespace)
        if s["metadata"].get("labels", {}).get("istio/multiCluster") == "true"
    )


def test_install_with_remote_secrets_gives_each_cluster_the_others_in_its_namespace(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(2)
    first, second = clusters.names
    run = clusters.globaldns("install", "--contexts", "all", "--remote-secrets")
    assert run.status == 0, run.err
    assert _remote_secret_names(clusters, first, "globaldns") == [
        f"globaldns-remote-secret-{second}"
    ]
    assert _remote_secret_names(clusters, second, "globaldns") == [
        f"globaldns-remote-secret-{first}"
    ]
    assert _remote_secret_names(clusters, first, "istio-system") == []


def test_install_with_remote_secrets_and_the_istio_component_puts_them_in_istio_system(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(2)
    first, second = clusters.names
    run = clusters.globaldns(
        "install", "--contexts", "all", "--remote-secrets", "--component", "istio-remote-secrets"
    )
    assert run.status == 0, run.err
    assert _remote_secret_names(clusters, first, "istio-system") == [
        f"globaldns-remote-secret-{second}"
    ]
    assert _remote_secret_names(clusters, first, "globaldns") == []


def _remote_reader_objects(clusters: Clusters, name: str) -> list[str]:
    """The reader account, its binding and token Secret that `--remote-secrets` makes, by name."""
    found = [
        *clusters.control.objects(name, "v1", "ServiceAccount", "globaldns"),
        *clusters.control.objects(name, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        *clusters.control.objects(name, "v1", "Secret", "globaldns"),
    ]
    return [o["metadata"]["name"] for o in found if "remote-reader" in o["metadata"]["name"]]


def test_uninstall_deletes_the_reader_accounts_and_remote_secrets_install_made(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(2)
    first, second = clusters.names
    assert clusters.globaldns("install", "--contexts", "all", "--remote-secrets").status == 0
    assert len(_remote_reader_objects(clusters, first)) == 3
    run = clusters.globaldns("uninstall", "--contexts", "all")
    assert run.status == 0, run.err
    assert "deleting Secret globaldns/globaldns-remote-secret-" in run.err
    for name in (first, second):
        assert _remote_reader_objects(clusters, name) == []
        assert _remote_secret_names(clusters, name, "globaldns") == []


def _planted_secret(name: str, cluster: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "istio-system",
            "labels": {"istio/multiCluster": "true", **labels},
            "annotations": {"networking.istio.io/cluster": cluster},
        },
    }


def test_uninstall_deletes_remote_secrets_in_istio_system_and_keeps_istios_own(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(2)
    first, _ = clusters.names
    run = clusters.globaldns(
        "install", "--contexts", "all", "--remote-secrets", "--component", "istio-remote-secrets"
    )
    assert run.status == 0, run.err
    clusters.control.put(first, _planted_secret("istio-remote-secret-west", "west", {}))
    assert clusters.globaldns("uninstall", "--contexts", "all").status == 0
    assert _remote_secret_names(clusters, first, "istio-system") == ["istio-remote-secret-west"]


def test_uninstall_keeps_a_remote_secret_name_without_the_label_or_the_label_on_another_name(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(2)
    first, _ = clusters.names
    assert clusters.globaldns("install", "--contexts", "all", "--remote-secrets").status == 0
    clusters.control.put(
        first,
        _planted_secret("globaldns-remote-secret-west", "west", {}),
        _planted_secret(
            "globaldns-remote-secret-east", "west", {"app.kubernetes.io/name": "globaldns"}
        ),
    )
    assert clusters.globaldns("uninstall", "--contexts", "all").status == 0
    assert _remote_secret_names(clusters, first, "istio-system") == [
        "globaldns-remote-secret-east",
        "globaldns-remote-secret-west",
    ]


def test_install_dry_run_with_remote_secrets_says_what_it_would_exchange_and_writes_nothing(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(2)
    first, second = clusters.names
    for name in clusters.names:
        clusters.control.clear_requests(name)
    run = clusters.globaldns("install", "--contexts", "all", "--remote-secrets", "--dry-run")
    assert run.status == 0, run.err
    assert (
        f"{first}: would make the reader account globaldns/globaldns-remote-reader and apply "
        f"globaldns-remote-secret-{first} in globaldns of {second}"
    ) in run.out
    assert all(clusters.writes(name) == [] for name in clusters.names)
