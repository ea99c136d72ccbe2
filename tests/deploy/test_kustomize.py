"""kubectl's kustomize renders exactly what `globaldns install` applies: one source of truth."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from globaldns.manifests import load

from .conftest import COMPONENTS, MANIFESTS

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def _render(directory: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return list(yaml.safe_load_all(done.stdout))


def _keyed(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects
    }


def test_kubectl_renders_the_base_as_install_loads_it() -> None:
    assert _keyed(_render(MANIFESTS)) == _keyed(load())


@pytest.mark.parametrize("component", COMPONENTS)
def test_kubectl_renders_an_overlay_with_each_component_as_install_loads_it(
    component: str, tmp_path: Path
) -> None:
    """An overlay as a user writes it; kustomize accepts only relative paths to the base."""
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(MANIFESTS, tmp_path)],
        "components": [os.path.relpath(MANIFESTS / "components" / component, tmp_path)],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    assert _keyed(_render(tmp_path)) == _keyed(load([component]))


def test_one_images_line_in_an_overlay_points_the_deployment_at_another_registry(
    tmp_path: Path,
) -> None:
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(MANIFESTS, tmp_path)],
        "images": [{"name": "globaldns", "newName": "registry.example.com:5000/team/globaldns"}],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    (deployment,) = [o for o in _render(tmp_path) if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    version = tomllib.loads((MANIFESTS.parent / "pyproject.toml").read_text())["project"]["version"]
    assert container["image"] == f"registry.example.com:5000/team/globaldns:{version}"


def test_an_overlay_pins_the_image_by_digest_as_the_readme_says(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(MANIFESTS, tmp_path)],
        "images": [
            {"name": "globaldns", "newName": "registry.example/globaldns", "digest": digest}
        ],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    (deployment,) = [o for o in _render(tmp_path) if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"registry.example/globaldns@{digest}"


def test_an_aks_overlay_points_the_keep_wired_role_at_coredns_custom(tmp_path: Path) -> None:
    """The patch README gives for AKS (kube-dns: the same with `kube-dns`)."""
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(MANIFESTS, tmp_path)],
        "components": [os.path.relpath(MANIFESTS / "components" / "keep-wired", tmp_path)],
        "patches": [
            {
                "target": {"kind": "Role", "name": "globaldns-coredns-writer"},
                "patch": "- op: replace\n  path: /rules/0/resourceNames\n"
                "  value: [coredns-custom]\n",
            }
        ],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    (writer,) = [
        o
        for o in _render(tmp_path)
        if o["kind"] == "Role" and o["metadata"]["name"] == "globaldns-coredns-writer"
    ]
    assert [rule["resourceNames"] for rule in writer["rules"]] == [["coredns-custom"]]


def _secret_verbs_in(objects: list[dict[str, Any]], namespace: str) -> set[str]:
    """Verbs any Role in `namespace` (or ClusterRole) grants on Secrets, as kubectl renders."""
    return {
        verb
        for role in objects
        if role["kind"] == "ClusterRole"
        or (role["kind"] == "Role" and role["metadata"]["namespace"] == namespace)
        for rule in role.get("rules", [])
        if "secrets" in rule.get("resources", []) or "*" in rule.get("resources", [])
        for verb in rule["verbs"]
    }


def test_kubectl_renders_a_base_that_grants_no_verb_on_istio_system_secrets() -> None:
    assert _secret_verbs_in(_render(MANIFESTS), "istio-system") == set()


def test_kubectl_renders_the_istio_remote_secrets_component_reading_them(tmp_path: Path) -> None:
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(MANIFESTS, tmp_path)],
        "components": [
            os.path.relpath(MANIFESTS / "components" / "istio-remote-secrets", tmp_path)
        ],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    assert _secret_verbs_in(_render(tmp_path), "istio-system") == {"get", "list", "watch"}
