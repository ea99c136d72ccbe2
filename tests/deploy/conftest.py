"""Shared views of the deploy manifests: the objects exactly as `globaldns install` applies them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from globaldns.manifests import component_names, load

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
COMPONENTS = component_names()


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of that kind and name."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


@pytest.fixture
def base() -> list[dict[str, Any]]:
    return load()


@pytest.fixture
def keep_wired() -> list[dict[str, Any]]:
    return load(["keep-wired"])


@pytest.fixture
def deployment(base: list[dict[str, Any]]) -> dict[str, Any]:
    return find(base, "Deployment", "globaldns")


@pytest.fixture
def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only
