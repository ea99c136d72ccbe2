"""Failure paths: each refused or failed cluster gets a clear message, leaves nothing
half-written, and does not stop the other clusters; the exit status says something failed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from kubernetes_asyncio import config as kube_config

from globaldns import manifests
from globaldns.install.kube import Conflict, Kube, Ref

from .conftest import KUBEADM_COREFILE, REFUSED, Clusters


def leftovers(clusters: Clusters, name: str) -> list[str]:
    """Manifest objects present in the cluster."""
    return [
        f"{obj['kind']} {obj['metadata']['name']}"
        for obj in manifests.load()
        if any(
            live["metadata"]["name"] == obj["metadata"]["name"]
            for live in clusters.control.objects(
                name, obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace")
            )
        )
    ]


def test_unparsable_corefile_is_refused_with_the_line_and_fix_and_nothing_written(
    make_clusters: Callable[..., Clusters],
) -> None:
    broken = (REFUSED / "stray-closing-brace.Corefile").read_text()
    clusters = make_clusters(corefile=broken)
    (name,) = clusters.names
    run = clusters.globaldns("install")
    assert run.status == 1
    assert "Corefile line" in run.out and "nothing was written" in run.out
    assert clusters.writes(name) == []


def test_missing_dns_configmap_is_refused_saying_what_to_do(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(corefile=None)
    (name,) = clusters.names
    run = clusters.globaldns("install")
    assert run.status == 1
    assert "no kube-system/coredns ConfigMap" in run.out
    assert "forward global. to the globaldns Service by hand" in run.out
    assert clusters.writes(name) == []


def test_a_conflict_on_the_first_corefile_write_is_retried(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.control.conflict_next(name, "configmaps", "coredns", "kube-system")
    assert cluster.globaldns("install").status == 0
    puts = [r["status"] for r in cluster.control.requests(name) if r["method"] == "PUT"]
    assert puts == [409, 200]
    assert "global:53 {" in cluster.corefile(name)


def test_forbidden_corefile_write_fails_and_deletes_what_this_run_created(
    cluster: Clusters,
) -> None:
    (name,) = cluster.names
    cluster.control.forbid(name, "configmaps", "update")
    run = cluster.globaldns("install")
    assert run.status == 1
    assert "forbidden" in run.out and "cluster-admin" in run.out
    assert leftovers(cluster, name) == []
    assert cluster.corefile(name) == KUBEADM_COREFILE


def test_forbidden_read_fails_before_any_write(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.control.forbid(name, "configmaps", "get")
    run = cluster.globaldns("install")
    assert run.status == 1
    assert "forbidden" in run.out and "nothing was written" in run.out
    assert cluster.writes(name) == []


def test_a_cluster_that_is_down_fails_with_a_message_and_the_others_are_installed(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(2)
    down, up = clusters.names
    clusters.control.down(down)
    try:
        run = clusters.globaldns("install", "--contexts", "all")
    finally:
        clusters.control.up(down)
    assert run.status == 1
    assert "cannot reach the API server" in run.out
    assert "1/2 clusters ok, 1 failed" in run.out
    assert "global:53 {" in clusters.corefile(up)
    assert leftovers(clusters, down) == []


def test_a_component_whose_kind_the_cluster_lacks_is_refused_before_any_write(
    cluster: Clusters,
) -> None:
    """The monitoring component needs the Prometheus Operator's ServiceMonitor kind."""
    (name,) = cluster.names
    cluster.control.clear_requests(name)
    run = cluster.globaldns("install", "--component", "monitoring")
    assert run.status == 1
    assert "does not serve ServiceMonitor in monitoring.coreos.com/v1" in run.out
    assert "nothing was written" in run.out
    assert cluster.writes(name) == []


def test_an_object_of_a_kind_the_cluster_does_not_serve_is_already_gone_for_delete(
    cluster: Clusters,
) -> None:
    """Uninstall after the Prometheus Operator's CRDs were removed still completes."""
    (name,) = cluster.names
    monitor = Ref("monitoring.coreos.com/v1", "ServiceMonitor", "globaldns", "globaldns")

    async def delete() -> bool:
        api = await kube_config.new_client_from_config(
            config_file=str(cluster.kubeconfig), context=name, persist_config=False
        )
        async with api:
            return await Kube(api).delete(monitor)

    assert asyncio.run(delete()) is False


def test_delete_with_the_uid_of_a_replaced_object_is_a_conflict_and_deletes_nothing(
    cluster: Clusters,
) -> None:
    """Uninstall deletes the very object it saw labelled: one made again since is not it."""
    (name,) = cluster.names
    cluster.globaldns("install")
    ref = Ref("rbac.authorization.k8s.io/v1", "ClusterRole", "", "globaldns-reader")
    (seen,) = cluster.control.objects(name, ref.api_version, ref.kind)
    cluster.control.delete(name, ref.api_version, ref.kind, ref.name)
    cluster.control.put(
        name, {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": {"name": ref.name}}
    )

    async def delete() -> bool:
        api = await kube_config.new_client_from_config(
            config_file=str(cluster.kubeconfig), context=name, persist_config=False
        )
        async with api:
            return await Kube(api).delete(ref, seen["metadata"]["uid"])

    with pytest.raises(Conflict, match="Precondition failed"):
        asyncio.run(delete())
    assert len(cluster.control.objects(name, ref.api_version, ref.kind)) == 1


def test_uninstall_keeps_an_object_replaced_while_it_ran_and_says_so(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.globaldns("install")
    cluster.control.conflict_next(name, "deployments", "globaldns", "globaldns")
    run = cluster.globaldns("uninstall")
    assert run.status == 0
    assert "kept Deployment globaldns/globaldns: it was replaced while uninstall ran" in run.out
    assert cluster.corefile(name) == KUBEADM_COREFILE
