"""Fixtures the whole suite shares: one Kubernetes API emulator for the session (on a
background thread; suites make their own fresh clusters in it, so tests stay independent), and
loopback gateways with real listeners."""

from __future__ import annotations

import compileall
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.gateways import GatewayFarm
from harness.kube_emulator import Emulator, EmulatorThread


def pytest_sessionstart(session: pytest.Session) -> None:
    """The project's modules compiled to bytecode once: the suite starts hundreds of `globaldns`
    processes, and where PYTHONDONTWRITEBYTECODE is set (as on this machine) each of them would
    compile every module from its source again (0.15-0.2 s of CPU a start, measured)."""
    root = Path(__file__).resolve().parents[1]
    for package in ("globaldns", "harness"):
        compileall.compile_dir(root / package, quiet=1)


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(Emulator(bookmark_interval=0.2)) as running:
        yield running


@pytest.fixture
def farm() -> Iterator[GatewayFarm]:
    """Gateways on 127.0.0.0/8 sharing one port; `farm.gateway(address)` adds one, accepting."""
    with GatewayFarm() as made:
        yield made
