"""`install` touches no CoreDNS configuration until a globaldns pod is Ready and answers; when
none does in time, it says what blocked (read from the cluster) and rolls back what it made."""

from __future__ import annotations

import pytest

from harness import free_port

from .conftest import AKS_COREFILE, KUBEADM_COREFILE, Clusters, configmap


def failed_install(cluster: Clusters, outcome: str) -> str:
    (name,) = cluster.names
    cluster.control.pod_outcome(name, outcome)
    run = cluster.globaldns("install", "--timeout", "1")
    assert run.status == 1
    return run.out + run.err


def test_an_unpullable_image_leaves_the_corefile_untouched_and_says_so(cluster: Clusters) -> None:
    said = failed_install(cluster, "image-pull")
    assert cluster.corefile(cluster.names[0]) == KUBEADM_COREFILE
    assert "the image cannot be pulled" in said
    assert 'ImagePullBackOff: Back-off pulling image "globaldns:' in said
    assert "CoreDNS was not touched" in said


def test_an_unpullable_image_leaves_coredns_custom_untouched(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.control.put(name, configmap("coredns", {"Corefile": AKS_COREFILE}))
    cluster.control.put(name, configmap("coredns-custom", {"test.override": "log\n"}))
    failed_install(cluster, "image-pull")
    assert cluster.configmap(name, "coredns-custom")["data"] == {"test.override": "log\n"}


def test_a_failed_wait_deletes_what_the_run_created(cluster: Clusters) -> None:
    said = failed_install(cluster, "image-pull")
    assert not [
        ns
        for ns in cluster.control.objects(cluster.names[0], "v1", "Namespace")
        if ns["metadata"]["name"] == "globaldns"
    ]
    assert "object(s) this run had created" in said


def test_a_quota_refusing_the_pods_is_named(cluster: Clusters) -> None:
    said = failed_install(cluster, "quota")
    assert cluster.corefile(cluster.names[0]) == KUBEADM_COREFILE
    assert "a ResourceQuota refuses the pods" in said
    assert "FailedCreate" in said and "insufficient quota" in said


def test_an_admission_refusal_is_named(cluster: Clusters) -> None:
    said = failed_install(cluster, "admission")
    assert cluster.corefile(cluster.names[0]) == KUBEADM_COREFILE
    assert "admission refuses the pods" in said
    assert "security context constraint" in said


@pytest.mark.timeout(30)
def test_ready_pods_that_do_not_answer_leave_the_corefile_untouched(cluster: Clusters) -> None:
    silent = f"127.0.0.1:{free_port()}"
    run = cluster.globaldns("install", "--timeout", "1", "--check-address", silent)
    assert run.status == 1
    assert cluster.corefile(cluster.names[0]) == KUBEADM_COREFILE
    assert f"no DNS answer came (asked {silent} for the SOA of global.)" in run.out
    assert "port-forward" in run.out


def test_a_failing_rollout_over_ready_pods_still_wires(cluster: Clusters) -> None:
    """Old pods keep answering (maxUnavailable 0) while a new image fails to pull."""
    (name,) = cluster.names
    assert cluster.globaldns("install").status == 0
    cluster.control.pod_outcome(name, "image-pull")
    assert cluster.globaldns("install", "--image", "registry.invalid/nope:1").status == 0
    assert "global:53 {" in cluster.corefile(name)
