"""One Kubernetes API emulator for the whole test session (on a background thread); suites
make their own fresh clusters in it, so tests stay independent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kube_emulator import Emulator, EmulatorThread


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(Emulator(bookmark_interval=0.2)) as running:
        yield running
