"""The wiring watchdog against an emulated cluster: it sees its block, notices when a platform
reverts the Corefile, exports that as globaldns_coredns_wired, and with keep-wired repairs it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from globaldns.install.kube import Kube
from globaldns.install.watchdog import Watchdog, from_settings

from .conftest import KUBEADM_COREFILE, Clusters, configmap


def check(cluster: Clusters, keep_wired: bool, watchdog: Watchdog | None = None) -> Watchdog:
    """One check of the cluster's wiring, bounded in time; returns the watchdog for more."""
    dog = watchdog or from_settings(
        {
            "wiring_check_interval": 30.0,
            "kubeconfig": cluster.kubeconfig,
            "local_cluster": cluster.names[0],
            "zone": "global",
            "ttl": 5,
            "keep_wired": keep_wired,
        }
    )
    assert dog is not None

    async def once() -> None:
        async with await dog.make_client() as api:
            await asyncio.wait_for(dog.check(Kube(api)), 20)

    asyncio.run(once())
    return dog


def gauge(dog: Watchdog) -> float:
    (family,) = dog.families()
    assert family.name == "globaldns_coredns_wired"
    return float(family.samples[0].value)


def revert(cluster: Clusters) -> None:
    cluster.control.put(cluster.names[0], configmap("coredns", {"Corefile": KUBEADM_COREFILE}))


@pytest.fixture
def installed(cluster: Clusters) -> Clusters:
    assert cluster.globaldns("install").status == 0
    return cluster


def test_wired_cluster_exports_one(installed: Clusters) -> None:
    assert gauge(check(installed, keep_wired=False)) == 1.0


def test_reverted_corefile_exports_zero_and_is_logged(
    installed: Clusters, caplog: pytest.LogCaptureFixture
) -> None:
    revert(installed)
    with caplog.at_level(logging.WARNING, "globaldns.watchdog"):
        dog = check(installed, keep_wired=False)
    assert gauge(dog) == 0.0
    assert "no longer forwards global. to globaldns" in caplog.text
    assert installed.corefile(installed.names[0]) == KUBEADM_COREFILE


def test_keep_wired_puts_the_block_back(installed: Clusters) -> None:
    (name,) = installed.names
    wired = installed.corefile(name)
    revert(installed)
    dog = check(installed, keep_wired=True)
    assert gauge(dog) == 1.0
    assert installed.corefile(name) == wired


def test_keep_wired_retries_a_conflicting_repair(installed: Clusters) -> None:
    (name,) = installed.names
    wired = installed.corefile(name)
    revert(installed)
    installed.control.conflict_next(name, "configmaps", "coredns", "kube-system")
    check(installed, keep_wired=True)
    assert installed.corefile(name) == wired


def test_no_metric_before_the_first_check(installed: Clusters) -> None:
    dog = from_settings(
        {
            "wiring_check_interval": 30.0,
            "kubeconfig": installed.kubeconfig,
            "local_cluster": installed.names[0],
            "zone": "global",
            "ttl": 5,
            "keep_wired": False,
        }
    )
    assert dog is not None and list(dog.families()) == []


def test_unreadable_corefile_exports_zero(installed: Clusters) -> None:
    installed.control.forbid(installed.names[0], "configmaps", "get")
    assert gauge(check(installed, keep_wired=False)) == 0.0
