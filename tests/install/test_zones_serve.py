"""End to end, the way a pod runs: `install --keep-wired --zones global,clusterset.local` into an
emulated cluster, then a real `globaldns serve` with the config install wrote (its
`wiringZones`), checking its wiring every half second through unbound standing in for CoreDNS
(forwarding both zones to it). `/metrics` says the path is wired; a platform that drops the
clusterset block gets it back from the running server."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from globaldns.install.corefile import parse
from globaldns.install.wiring import managed_block
from harness import free_port, wait_for

from .conftest import Clusters
from .test_walkthrough import stop, wait_ready
from .test_wiring_check import Unbound
from .test_zones import ZONES
from .test_zones_watchdog import without_clusterset_block

pytestmark = pytest.mark.timeout(60)


def metric(admin: int, name: str) -> str | None:
    """The value of an unlabelled metric on /metrics, None while it is absent."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return line.split()[1]
    return None


@pytest.fixture
def served(cluster: Clusters, tmp_path: Path) -> Iterator[tuple[Clusters, int]]:
    """The installed cluster, its globaldns serving with the installed config, and unbound
    forwarding both zones to it; yields the cluster and the admin port."""
    (name,) = cluster.names
    assert cluster.globaldns("install", "--keep-wired", *ZONES).status == 0
    config = tmp_path / "config.yaml"
    config.write_text(cluster.configmap(name, "globaldns", "globaldns")["data"]["config.yaml"])
    port, admin, unbound = free_port(), free_port(), Unbound(tmp_path)
    args = ["--config", str(config), "--kubeconfig", str(cluster.kubeconfig)]
    args += ["--local-cluster", name, "--listen", f"127.0.0.1:{port}"]
    args += ["--admin", f"127.0.0.1:{admin}", "--gateway-probe-port", "0", "--keep-wired"]
    args += ["--wiring-check-address", f"127.0.0.1:{unbound.port}"]
    args += ["--wiring-check-interval", "0.5"]
    process: subprocess.Popen[Any] = subprocess.Popen(
        [sys.executable, "-m", "globaldns", "serve", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_ready(admin, process)
        unbound.start(port, clusterset=True)
        yield cluster, admin
    finally:
        unbound.stop()
        stop(process)


def test_the_server_says_both_zones_resolve_to_it(served: tuple[Clusters, int]) -> None:
    _, admin = served
    wait_for(lambda: metric(admin, "globaldns_coredns_wired") == "1.0", 15, what="wired 1")
    assert metric(admin, "globaldns_coredns_configured") == "1.0"


def test_the_running_server_puts_a_dropped_clusterset_block_back(
    served: tuple[Clusters, int],
) -> None:
    cluster, _ = served
    (name,) = cluster.names
    wired = without_clusterset_block(cluster)

    def restored() -> bool:
        return managed_block(parse(cluster.corefile(name)), "clusterset.local") is not None

    wait_for(restored, 15, interval=0.2, what="the clusterset block back")
    assert cluster.corefile(name) == wired
