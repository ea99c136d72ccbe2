"""Fixtures the whole suite shares: one Kubernetes API emulator for the session (on a
background thread; suites make their own fresh clusters in it, so tests stay independent), and
loopback gateways with real listeners."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.gateways import GatewayFarm
from harness.kube_emulator import Emulator, EmulatorThread


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(Emulator(bookmark_interval=0.2)) as running:
        yield running


@pytest.fixture
def farm() -> Iterator[GatewayFarm]:
    """Gateways on 127.0.0.0/8 sharing one port; `farm.gateway(address)` adds one, accepting."""
    with GatewayFarm() as made:
        yield made
