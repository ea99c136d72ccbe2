"""The deploy manifests as data, read the way `kubectl apply -k` reads them.

The YAML files beside this module are the one source of truth: kustomize renders them for
`kubectl apply -k manifests/`, and `globaldns install` applies what `load` returns, so the two
cannot drift apart. Only the kustomize features used here are understood (`resources` files,
`images` (newName, newTag), a component's `resources` and JSON patches with
`op: add`); anything else is refused loudly.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import yaml

KUSTOMIZATION = "kustomization.yaml"
COMPONENTS = "components"


def component_names() -> list[str]:
    """The opt-in components beside the base (``keep-wired``, ``monitoring``, ...)."""
    return sorted(
        entry.name for entry in (files(__name__) / COMPONENTS).iterdir() if entry.is_dir()
    )


def load(components: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The objects of the base plus the named components (e.g. ``keep-wired``), in apply order."""
    root = files(__name__)
    base = _kustomization(root, "Kustomization")
    objects = _resources(root, base)
    for name in components:
        component = root / COMPONENTS / name
        spec = _kustomization(component, "Component")
        objects += _resources(component, spec)
        for patch in spec.get("patches", []):
            _apply_patch(objects, patch["target"], _documents(component / patch["path"])[0])
    for image in base.get("images", []):
        _set_image(objects, image)
    return objects


def _kustomization(directory: Traversable, kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = _documents(directory / KUSTOMIZATION)[0]
    where = f"{directory}/{KUSTOMIZATION}"
    if spec.get("kind") != kind:
        raise ValueError(f"{where}: expected kind {kind}, got {spec.get('kind')}")
    unknown = set(spec) - {"apiVersion", "kind", "resources", "patches", "images"}
    if unknown:
        raise ValueError(f"{where}: unsupported fields {sorted(unknown)}")
    return spec


def _resources(directory: Traversable, spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [obj for name in spec.get("resources", []) for obj in _documents(directory / name)]


def _documents(file: Traversable) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(file.read_text(encoding="utf-8")) if doc is not None]


def _apply_patch(
    objects: list[dict[str, Any]], target: dict[str, str], operations: list[dict[str, Any]]
) -> None:
    """Apply an RFC 6902 patch (``add`` only) to the one object the target selects."""
    matches = [obj for obj in objects if _selected(obj, target)]
    if len(matches) != 1:
        raise ValueError(f"patch target {target} matches {len(matches)} objects, expected 1")
    for operation in operations:
        if operation["op"] != "add":
            raise ValueError(f"unsupported patch op {operation['op']!r}: only 'add' is understood")
        *parents, last = [_unescape(step) for step in operation["path"].split("/")[1:]]
        node: Any = matches[0]
        for step in parents:
            node = node[int(step)] if isinstance(node, list) else node[step]
        if isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), operation["value"])
        else:
            node[last] = operation["value"]


def _unescape(step: str) -> str:
    """A JSON Pointer reference token as the key it names (RFC 6901)."""
    return step.replace("~1", "/").replace("~0", "~")


def _selected(obj: dict[str, Any], target: dict[str, str]) -> bool:
    group, _, version = obj["apiVersion"].rpartition("/")
    actual = {
        "group": group,
        "version": version,
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "namespace": obj["metadata"].get("namespace", ""),
    }
    return all(actual[key] == value for key, value in target.items())


def _set_image(objects: list[dict[str, Any]], image: dict[str, str]) -> None:
    """Kustomize's `images:` entry: every container running `name` (any tag) gets the new one."""
    unknown = set(image) - {"name", "newName", "newTag"}
    if unknown:
        raise ValueError(f"images entry {image['name']!r}: unsupported fields {sorted(unknown)}")
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
            name, tag = _split_tag(container["image"])
            if name == image["name"]:
                tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")


def _split_tag(reference: str) -> tuple[str, str]:
    """(name, tag or ""): a registry's port (`host:5000/x`) is not a tag."""
    head, colon, tag = reference.rpartition(":")
    if colon and "/" not in tag:
        return head, tag
    return reference, ""
