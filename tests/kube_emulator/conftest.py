"""Each test gets its own fresh cluster in the session's emulator (tests/conftest.py), so tests
stay independent and fast."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.kube_emulator import ControlClient, EmulatorThread

_names = itertools.count()


@dataclass
class FreshCluster:
    """A cluster made for one test: its name, a kubeconfig for it, and the control client."""

    name: str
    kubeconfig: Path
    control: ControlClient


@pytest.fixture
def cluster(emulator: EmulatorThread, tmp_path: Path) -> Iterator[FreshCluster]:
    name = f"c{next(_names)}"
    emulator.control.add_cluster(name)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(emulator.control.kubeconfig([name])))
    yield FreshCluster(name, path, emulator.control)
    emulator.control.remove_cluster(name)
