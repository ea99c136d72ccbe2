"""The name a cluster gets in the mesh (the ConfigMap's `localCluster`): `--cluster-id`, else
istiod's CLUSTER_ID (what Istio's remote Secrets are keyed by), else the context name; always
a DNS label, since it goes into names like `foo-<cluster>.global`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import GlobalDns
from harness.kube_emulator import EmulatorThread

from .conftest import KUBEADM_COREFILE, Clusters, new_clusters, remove

ISTIOD = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "istiod", "namespace": "istio-system"},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {"name": "discovery", "env": [{"name": "CLUSTER_ID", "value": "uswest2"}]}
                ]
            }
        }
    },
}


def local_cluster(cluster: Clusters) -> str:
    config = cluster.configmap(cluster.names[0], "globaldns", "globaldns")["data"]["config.yaml"]
    return str(yaml.safe_load(config)["localCluster"])


def test_istiods_cluster_id_names_the_cluster(cluster: Clusters) -> None:
    cluster.control.put(cluster.names[0], ISTIOD)
    assert cluster.globaldns("install").status == 0
    assert local_cluster(cluster) == "uswest2"


def test_cluster_id_given_wins_over_istiod(cluster: Clusters) -> None:
    cluster.control.put(cluster.names[0], ISTIOD)
    assert cluster.globaldns("install", "--cluster-id", "edge-1").status == 0
    assert local_cluster(cluster) == "edge-1"


def test_without_istio_the_context_names_the_cluster(cluster: Clusters) -> None:
    assert cluster.globaldns("install").status == 0
    assert local_cluster(cluster) == cluster.names[0]


def test_a_cluster_id_that_is_not_a_dns_label_is_a_usage_error(cluster: Clusters) -> None:
    run = cluster.globaldns("install", "--cluster-id", "arn:aws:eks:us-west-2:1:cluster/prod")
    assert run.status == 2
    assert "--cluster-id" in run.err and "is not a DNS label" in run.err


@pytest.fixture
def arn_context(emulator: EmulatorThread, tmp_path: Path, standin: GlobalDns) -> Iterator[Clusters]:
    """An EKS-style context name, which is no DNS label."""
    clusters = new_clusters(
        emulator, tmp_path, [KUBEADM_COREFILE], ["Prod_East"], f"127.0.0.1:{standin.port}"
    )
    yield clusters
    remove(clusters)


def test_a_context_name_that_is_not_a_dns_label_is_refused_naming_the_flag(
    arn_context: Clusters,
) -> None:
    run = arn_context.globaldns("install")
    assert run.status == 1
    assert "'Prod_East' (the context name), which is not a DNS label" in run.out
    assert "give --cluster-id NAME" in run.out
    assert arn_context.writes("Prod_East") == []
