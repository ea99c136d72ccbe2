"""One server on the example mesh for the metrics tests that only read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import REPO, GlobalDns

EXAMPLE_MESH = REPO / "examples" / "mesh.yaml"


def example_mesh() -> dict[str, object]:
    mesh: dict[str, object] = yaml.safe_load(Path(EXAMPLE_MESH).read_text())
    return mesh


@pytest.fixture
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(example_mesh()).start()
    yield srv
    srv.stop()
