"""Every zone install wired stays watched: `install --zones global,clusterset.local` tells the
server (its config's `wiringZones`), the watchdog checks the clusterset block beside the global
one, `--keep-wired` puts a removed clusterset block back, and the rollout check asks the
clusterset zone too before wiring it. Against the Kubernetes emulator, as test_watchdog.py."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from globaldns.cli import build_parser, main
from globaldns.install.corefile import parse
from globaldns.install.watchdog import Watchdog
from globaldns.install.wiring import managed_block, managed_span
from globaldns.settings import Settings, layers
from harness import GlobalDns

from .conftest import AKS_COREFILE, KUBEADM_COREFILE, Clusters, configmap
from .test_watchdog import check as watchdog_check
from .test_watchdog import gauge
from .test_zones import MULTICLUSTER_COREFILE, ZONES

CLUSTERSET = "clusterset.local"
USER_OVERRIDE = {"test.override": "log\n"}


def check(cluster: Clusters, keep_wired: bool, also: tuple[str, ...] = (CLUSTERSET,)) -> Watchdog:
    """One check (and, with keep_wired, one repair) of both zones' wiring."""
    return watchdog_check(cluster, keep_wired, also=also)


def wired_zones(corefile: str) -> set[str]:
    return {zone for zone in ("global", CLUSTERSET) if managed_block(parse(corefile), zone)}


def without_clusterset_block(cluster: Clusters) -> str:
    """The wired Corefile as a platform that dropped the clusterset block leaves it."""
    (name,) = cluster.names
    wired = cluster.corefile(name)
    block = managed_block(parse(wired), CLUSTERSET)
    assert block is not None
    start, end = managed_span(wired, block)
    lost = wired[:start].rstrip("\n") + "\n" + wired[end:].lstrip("\n")
    cluster.control.put(name, configmap("coredns", {"Corefile": lost}))
    return wired


@pytest.fixture
def installed(cluster: Clusters) -> Clusters:
    assert cluster.globaldns("install", "--keep-wired", *ZONES).status == 0
    return cluster


def test_install_tells_the_server_which_zones_it_wired(installed: Clusters, tmp_path: Path) -> None:
    config = installed.configmap(installed.names[0], "globaldns", "globaldns")["data"]
    path = tmp_path / "config.yaml"
    path.write_text(config["config.yaml"])
    args = build_parser().parse_args(["serve", "--config", str(path)])
    assert layers(args, {}).build(Settings).wiring.also == (CLUSTERSET,)


def test_install_without_zones_names_none_beside_the_zone(cluster: Clusters) -> None:
    assert cluster.globaldns("install").status == 0
    config = cluster.configmap(cluster.names[0], "globaldns", "globaldns")["data"]
    assert "wiringZones" not in config["config.yaml"]


def test_both_blocks_in_place_export_one(installed: Clusters) -> None:
    assert gauge(check(installed, keep_wired=False)) == 1.0


def test_a_lost_clusterset_block_exports_zero_and_is_logged(
    installed: Clusters, caplog: pytest.LogCaptureFixture
) -> None:
    without_clusterset_block(installed)
    with caplog.at_level(logging.WARNING, "globaldns.watchdog"):
        dog = check(installed, keep_wired=False)
    assert gauge(dog) == 0.0
    assert "no longer forwards global., clusterset.local. to globaldns" in caplog.text


def test_keep_wired_puts_the_clusterset_block_back(installed: Clusters) -> None:
    (name,) = installed.names
    wired = without_clusterset_block(installed)
    assert gauge(check(installed, keep_wired=True)) == 1.0
    assert installed.corefile(name) == wired


def test_keep_wired_puts_both_blocks_back_after_a_full_revert(installed: Clusters) -> None:
    (name,) = installed.names
    wired = installed.corefile(name)
    installed.control.put(name, configmap("coredns", {"Corefile": KUBEADM_COREFILE}))
    check(installed, keep_wired=True)
    assert installed.corefile(name) == wired


def test_a_watchdog_not_told_of_the_clusterset_leaves_its_block_alone(installed: Clusters) -> None:
    (name,) = installed.names
    wired = without_clusterset_block(installed)
    check(installed, keep_wired=True, also=())
    assert wired_zones(installed.corefile(name)) == {"global"} != wired_zones(wired)


def test_keep_wired_does_not_take_the_clusterset_from_a_multicluster_corefile(
    installed: Clusters, caplog: pytest.LogCaptureFixture
) -> None:
    """CoreDNS was switched to serve the clusterset itself since install: no repair fights it."""
    (name,) = installed.names
    installed.control.put(name, configmap("coredns", {"Corefile": MULTICLUSTER_COREFILE}))
    with caplog.at_level(logging.ERROR, "globaldns.watchdog"):
        dog = check(installed, keep_wired=True)
    assert gauge(dog) == 0.0
    assert installed.corefile(name) == MULTICLUSTER_COREFILE
    assert "multicluster clusterset.local" in caplog.text


def test_aks_keep_wired_puts_the_clusterset_key_back(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.control.put(name, configmap("coredns", {"Corefile": AKS_COREFILE}))
    cluster.control.put(name, configmap("coredns-custom", USER_OVERRIDE))
    assert cluster.globaldns("install", "--keep-wired", *ZONES).status == 0
    wired = cluster.configmap(name, "coredns-custom")["data"]
    assert {"global.server", "clusterset.local.server"} <= set(wired)
    lost = {k: v for k, v in wired.items() if k != "clusterset.local.server"}
    cluster.control.put(name, configmap("coredns-custom", lost))
    assert gauge(check(cluster, keep_wired=True)) == 1.0
    assert cluster.configmap(name, "coredns-custom")["data"] == wired
    assert cluster.corefile(name) == AKS_COREFILE


@pytest.fixture
def global_only() -> Iterator[GlobalDns]:
    """A globaldns serving `global.` but no clusterset zone (its questions REFUSED)."""
    server = GlobalDns({"zone": "global", "clusters": [], "services": []}, ["--no-clusterset"])
    yield server.start()
    server.stop()


def test_install_waits_for_the_clusterset_zone_to_answer_before_wiring_it(
    make_clusters: Callable[..., Clusters], global_only: GlobalDns
) -> None:
    clusters = make_clusters()
    (name,) = clusters.names
    address = f"127.0.0.1:{global_only.port}"
    run = clusters.globaldns("install", *ZONES, "--check-address", address, "--timeout", "1.5")
    assert run.status != 0
    assert "the pods are Ready but no DNS answer came" in run.out + run.err
    assert "SOA of clusterset.local." in run.out + run.err
    assert clusters.corefile(name) == KUBEADM_COREFILE


def test_install_without_zones_asks_only_its_zone(
    make_clusters: Callable[..., Clusters], global_only: GlobalDns
) -> None:
    clusters = make_clusters()
    run = clusters.globaldns("install", "--check-address", f"127.0.0.1:{global_only.port}")
    assert run.status == 0, run.out + run.err


def test_render_shows_the_zones_the_server_will_watch(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "--render", "--context", "a", *ZONES]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    (config,) = [d for d in documents if d and d["kind"] == "ConfigMap"]
    assert yaml.safe_load(config["data"]["config.yaml"])["wiringZones"] == [CLUSTERSET]
