"""`install --kustomize DIR` applies the operator's overlay (rendered by `kubectl kustomize`)
instead of the bundled base, so what the overlay changes survives every re-run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import Clusters

MANIFESTS = Path(__file__).parent.parent.parent / "manifests"
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
BIGGER = {"requests": {"cpu": "1", "memory": "700Mi"}, "limits": {"memory": "1400Mi"}}


def overlay(directory: Path, **extra: Any) -> Path:
    """An overlay as an operator writes one: the base, sized for 200 clusters."""
    patch = [
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources", "value": BIGGER}
    ]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(MANIFESTS, directory)],
        "patches": [
            {"target": {"kind": "Deployment", "name": "globaldns"}, "patch": yaml.safe_dump(patch)}
        ],
        **extra,
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return directory


def resources(cluster: Clusters) -> Any:
    (deployment,) = cluster.control.objects(cluster.names[0], "apps/v1", "Deployment", "globaldns")
    return deployment["spec"]["template"]["spec"]["containers"][0]["resources"]


def test_an_overlays_limits_survive_install_twice(cluster: Clusters, tmp_path: Path) -> None:
    directory = overlay(tmp_path)
    assert cluster.globaldns("install", "--kustomize", str(directory)).status == 0
    assert resources(cluster) == BIGGER
    run = cluster.globaldns("install", "--kustomize", str(directory))
    assert run.status == 0, run.out + run.err
    assert resources(cluster) == BIGGER
    assert "manifests up to date" in run.out


def test_the_overlays_image_is_kept_and_the_cluster_still_named(
    cluster: Clusters, tmp_path: Path
) -> None:
    images = [{"name": "globaldns", "newName": "registry.example/globaldns", "newTag": "9.9"}]
    directory = overlay(tmp_path, images=images)
    assert cluster.globaldns("install", "--kustomize", str(directory)).status == 0
    (deployment,) = cluster.control.objects(cluster.names[0], "apps/v1", "Deployment", "globaldns")
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example/globaldns:9.9"
    )
    config = yaml.safe_load(
        cluster.configmap(cluster.names[0], "globaldns", "globaldns")["data"]["config.yaml"]
    )
    assert config["localCluster"] == cluster.names[0]


def test_uninstall_with_the_overlay_deletes_what_it_added(
    cluster: Clusters, tmp_path: Path
) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "globaldns-extra",
                    "namespace": "globaldns",
                    "labels": {"app.kubernetes.io/name": "globaldns"},
                },
                "data": {"k": "v"},
            }
        )
    )
    directory = overlay(tmp_path)
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    kustomization["resources"].append("extra.yaml")
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    assert cluster.globaldns("install", "--kustomize", str(directory)).status == 0
    assert cluster.globaldns("uninstall", "--kustomize", str(directory)).status == 0
    assert cluster.configmap(cluster.names[0], "globaldns-extra", "globaldns") is None


def test_an_overlay_that_moves_the_kube_system_roles_is_refused(
    cluster: Clusters, tmp_path: Path
) -> None:
    directory = overlay(tmp_path, namespace="dns")
    run = cluster.globaldns("install", "--kustomize", str(directory))
    assert run.status == 2
    assert "moved out of kube-system" in run.err
    assert cluster.writes(cluster.names[0]) == []


def test_an_overlay_kubectl_cannot_render_is_a_usage_error(
    cluster: Clusters, tmp_path: Path
) -> None:
    run = cluster.globaldns("install", "--kustomize", str(tmp_path))
    assert run.status == 2
    assert "kubectl kustomize failed" in run.err


def test_components_with_an_overlay_are_refused(cluster: Clusters, tmp_path: Path) -> None:
    run = cluster.globaldns("install", "--kustomize", str(overlay(tmp_path)), "--keep-wired")
    assert run.status == 2
    assert "add the components to the overlay" in run.err
