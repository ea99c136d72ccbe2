"""The manifest files: parseable, all listed, valid Kubernetes objects, self-contained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from globaldns.manifests import _set_image, load

from .conftest import COMPONENTS, MANIFESTS

# The oldest Kubernetes minor the manifests promise to apply on; schemas ship with the validator.
KUBERNETES_VERSION = "1.29"
PATCH_FILES = {"deployment-patch.yaml"}


def _kustomization_dirs() -> list[Path]:
    return [MANIFESTS, *sorted(p for p in (MANIFESTS / "components").iterdir() if p.is_dir())]


def _ids(objects: list[dict[str, Any]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


# Custom resources (the Prometheus Operator's) have no schema in the validator: their shape is
# checked in test_components.py.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}
ALL_OBJECTS = load(COMPONENTS)
BUILT_IN_OBJECTS = [o for o in ALL_OBJECTS if o["kind"] not in CUSTOM_KINDS]


@pytest.mark.parametrize("path", sorted(MANIFESTS.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_manifest_file_parses_as_yaml(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert documents, f"{path} holds no document"


@pytest.mark.parametrize("directory", _kustomization_dirs(), ids=lambda p: p.name)
def test_kustomization_lists_every_yaml_file_beside_it(directory: Path) -> None:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    listed = set(spec.get("resources", [])) | {p["path"] for p in spec.get("patches", [])}
    present = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_patch_files_are_named_as_patches() -> None:
    """A patch is not an object: naming them apart keeps the schema check below honest."""
    patches = {p.name for d in _kustomization_dirs() for p in d.glob("*patch*.yaml")}
    assert patches == PATCH_FILES


@pytest.mark.parametrize("obj", BUILT_IN_OBJECTS, ids=_ids(BUILT_IN_OBJECTS))
def test_object_validates_against_the_kubernetes_schema(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_schema_check_rejects_an_unknown_field() -> None:
    """Guards the check above: strict validation must catch a misspelt field."""
    service = next(o for o in ALL_OBJECTS if o["kind"] == "Service")
    broken = {**service, "spec": {**service["spec"], "prots": service["spec"]["ports"]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("obj", ALL_OBJECTS, ids=_ids(ALL_OBJECTS))
def test_namespaced_object_names_its_namespace(obj: dict[str, Any]) -> None:
    """No kustomize namespace transformer: each file says where it goes, for kubectl and install."""
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    assert (obj["kind"] in cluster_scoped) != ("namespace" in obj["metadata"])


@pytest.mark.parametrize("obj", ALL_OBJECTS, ids=_ids(ALL_OBJECTS))
def test_object_carries_the_app_label_uninstall_selects_on(obj: dict[str, Any]) -> None:
    assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == "globaldns"


def test_objects_are_unique_by_kind_namespace_and_name() -> None:
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in ALL_OBJECTS]
    assert len(keys) == len(set(keys))


def test_namespace_comes_before_the_objects_in_it() -> None:
    kinds = [o["kind"] for o in load()]
    assert kinds[0] == "Namespace"


def _pod_running(image: str) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "spec": {"template": {"spec": {"containers": [{"image": image}]}}},
    }


@pytest.mark.parametrize(
    ("image", "entry", "result"),
    [
        ("globaldns", {"newTag": "0.1.0"}, "globaldns:0.1.0"),
        ("globaldns:old", {"newName": "r.example/globaldns"}, "r.example/globaldns:old"),
        ("globaldns", {"newName": "r.example:5000/g", "newTag": "1"}, "r.example:5000/g:1"),
        ("other:1", {"newTag": "2"}, "other:1"),
    ],
)
def test_images_entry_sets_name_and_tag_as_kustomize_does(
    image: str, entry: dict[str, str], result: str
) -> None:
    objects = [_pod_running(image)]
    _set_image(objects, {"name": "globaldns", **entry})
    assert objects[0]["spec"]["template"]["spec"]["containers"][0]["image"] == result


def test_images_entry_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="digest"):
        _set_image([_pod_running("globaldns")], {"name": "globaldns", "digest": "sha256:00"})
