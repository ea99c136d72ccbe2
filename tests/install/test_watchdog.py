"""The wiring watchdog against an emulated cluster: it checks the ConfigMap install wires (the
Corefile, AKS's coredns-custom, kube-dns stubDomains), notices when a platform reverts it, exports
that as globaldns_coredns_configured, and with keep-wired repairs that same ConfigMap."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from globaldns.install.cluster_dns import RESTART_HINT
from globaldns.install.kube import Kube, Ref
from globaldns.install.watchdog import Watchdog, WatchdogSettings, from_settings, own_service

from .conftest import AKS_COREFILE, KUBEADM_COREFILE, Clusters, configmap

USER_OVERRIDE = {"test.override": "log\n"}
USER_STUBS = '{"acme.local": ["1.2.3.4"]}'


def check(
    cluster: Clusters,
    keep_wired: bool,
    watchdog: Watchdog | None = None,
    also: tuple[str, ...] = (),
) -> Watchdog:
    """One check of the cluster's wiring (of `global` and the zones `also` wired beside it),
    bounded in time; returns the watchdog for more."""
    dog = watchdog or from_settings(
        WatchdogSettings(
            interval=30.0,
            kubeconfig=cluster.kubeconfig,
            local_cluster=cluster.names[0],
            zone="global",
            also=also,
            ttl=5,
            keep_wired=keep_wired,
        )
    )
    assert dog is not None

    async def once() -> None:
        async with await dog.make_client() as api:
            await asyncio.wait_for(dog.check(Kube(api)), 20)

    asyncio.run(once())
    return dog


def gauge(dog: Watchdog) -> float:
    """What the configuration says (no resolver is asked here: that is test_wiring_check.py)."""
    (family,) = dog.families()
    assert family.name == "globaldns_coredns_configured"
    return float(family.samples[0].value)


def revert(cluster: Clusters) -> None:
    cluster.control.put(cluster.names[0], configmap("coredns", {"Corefile": KUBEADM_COREFILE}))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "globaldns.watchdog" and r.levelno == logging.WARNING
    ]


@pytest.fixture
def installed(cluster: Clusters) -> Clusters:
    """Installed with keep-wired, as the repairs below need."""
    assert cluster.globaldns("install", "--keep-wired").status == 0
    return cluster


@pytest.fixture
def aks(cluster: Clusters) -> Clusters:
    """AKS: the managed Corefile plus `coredns-custom` with a key of the user's, installed."""
    cluster.control.put(cluster.names[0], configmap("coredns", {"Corefile": AKS_COREFILE}))
    cluster.control.put(cluster.names[0], configmap("coredns-custom", USER_OVERRIDE))
    assert cluster.globaldns("install", "--keep-wired").status == 0
    return cluster


@pytest.fixture
def kube_dns(make_clusters: Callable[..., Clusters]) -> Clusters:
    """A kube-dns cluster (no `coredns` ConfigMap) with a stub domain of the user's, installed."""
    cluster = make_clusters(corefile=None)
    cluster.control.put(cluster.names[0], configmap("kube-dns", {"stubDomains": USER_STUBS}))
    assert cluster.globaldns("install", "--keep-wired").status == 0
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
        WatchdogSettings(
            interval=30.0,
            kubeconfig=installed.kubeconfig,
            local_cluster=installed.names[0],
            zone="global",
            ttl=5,
            keep_wired=False,
        )
    )
    assert dog is not None and list(dog.families()) == []


def test_unreadable_corefile_exports_zero(installed: Clusters) -> None:
    installed.control.forbid(installed.names[0], "configmaps", "get")
    assert gauge(check(installed, keep_wired=False)) == 0.0


def test_aks_wired_through_coredns_custom_exports_one_naming_it(aks: Clusters) -> None:
    dog = check(aks, keep_wired=False)
    assert gauge(dog) == 1.0
    (family,) = dog.families()
    assert "kube-system/coredns-custom" in family.documentation


def test_aks_lost_custom_key_exports_zero_and_is_logged_once(
    aks: Clusters, caplog: pytest.LogCaptureFixture
) -> None:
    aks.control.put(aks.names[0], configmap("coredns-custom", USER_OVERRIDE))
    with caplog.at_level(logging.WARNING, "globaldns.watchdog"):
        dog = check(aks, keep_wired=False)
        check(aks, keep_wired=False, watchdog=dog)
    assert gauge(dog) == 0.0
    (line,) = [w for w in warnings(caplog) if "no longer forwards" in w]
    assert "kube-system/coredns-custom" in line


def test_aks_keep_wired_puts_the_key_back_and_leaves_the_corefile_alone(aks: Clusters) -> None:
    (name,) = aks.names
    wired = aks.configmap(name, "coredns-custom")["data"]
    aks.control.put(name, configmap("coredns-custom", USER_OVERRIDE))
    dog = check(aks, keep_wired=True)
    assert gauge(dog) == 1.0
    assert aks.configmap(name, "coredns-custom")["data"] == wired
    assert aks.corefile(name) == AKS_COREFILE


def test_aks_repair_logs_that_coredns_must_be_restarted(
    aks: Clusters, caplog: pytest.LogCaptureFixture
) -> None:
    aks.control.put(aks.names[0], configmap("coredns-custom", USER_OVERRIDE))
    with caplog.at_level(logging.WARNING, "globaldns.watchdog"):
        check(aks, keep_wired=True)
    (line,) = [w for w in warnings(caplog) if "restart" in w and "does not" in w]
    assert RESTART_HINT in line


def test_kube_dns_wired_through_stub_domains_exports_one(kube_dns: Clusters) -> None:
    assert gauge(check(kube_dns, keep_wired=False)) == 1.0


def test_kube_dns_keep_wired_puts_the_stub_domain_back(kube_dns: Clusters) -> None:
    (name,) = kube_dns.names
    wired = kube_dns.configmap(name, "kube-dns")["data"]
    kube_dns.control.put(name, configmap("kube-dns", {"stubDomains": USER_STUBS}))
    dog = check(kube_dns, keep_wired=True)
    assert gauge(dog) == 1.0
    assert kube_dns.configmap(name, "kube-dns")["data"] == wired


# Per platform: the fixture, the ConfigMap it is wired through, and that ConfigMap reverted.
PLATFORMS = {
    "corefile": ("installed", "coredns", {"Corefile": KUBEADM_COREFILE}),
    "aks": ("aks", "coredns-custom", USER_OVERRIDE),
    "kube-dns": ("kube_dns", "kube-dns", {"stubDomains": USER_STUBS}),
}


def writer_role_names(cluster: Clusters) -> list[str]:
    """The ConfigMaps the keep-wired Role install applied lets the server write."""
    roles = cluster.control.objects(
        cluster.names[0], "rbac.authorization.k8s.io/v1", "Role", "kube-system"
    )
    (role,) = [r for r in roles if r["metadata"]["name"] == "globaldns-coredns-writer"]
    return [name for rule in role["rules"] for name in rule["resourceNames"]]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_keep_wired_role_names_exactly_the_configmap_the_repair_writes(
    platform: str, request: pytest.FixtureRequest
) -> None:
    fixture, wired_through, reverted = PLATFORMS[platform]
    cluster: Clusters = request.getfixturevalue(fixture)
    (name,) = cluster.names
    cluster.control.put(name, configmap(wired_through, reverted))
    cluster.control.clear_requests(name)
    assert gauge(check(cluster, keep_wired=True)) == 1.0
    written = {r["path"].rsplit("/", 1)[-1] for r in cluster.writes(name)}
    assert writer_role_names(cluster) == [wired_through]
    assert written == {wired_through}


def test_a_repair_the_role_does_not_allow_says_to_install_again(
    installed: Clusters, caplog: pytest.LogCaptureFixture
) -> None:
    """The Role names `coredns`; the cluster now runs AKS's coredns-custom, which it may not
    write (the emulator's 403 stands in for RBAC)."""
    (name,) = installed.names
    installed.control.put(name, configmap("coredns", {"Corefile": AKS_COREFILE}))
    installed.control.put(name, configmap("coredns-custom", USER_OVERRIDE))
    installed.control.forbid(name, "configmaps", "update")
    with caplog.at_level(logging.ERROR, "globaldns.watchdog"):
        dog = check(installed, keep_wired=True)
    assert gauge(dog) == 0.0
    assert "cannot put the wiring back into ConfigMap kube-system/coredns-custom" in caplog.text
    assert "run `globaldns install --keep-wired` again" in caplog.text


def test_the_service_checked_is_in_the_pods_own_namespace(tmp_path: Path) -> None:
    """An overlay may move globaldns: the pod's service account says where it runs."""
    namespace = tmp_path / "namespace"
    namespace.write_text("dns-system")
    assert own_service(namespace) == Ref("v1", "Service", "dns-system", "globaldns")


def test_an_unreadable_or_odd_namespace_file_means_the_default(tmp_path: Path) -> None:
    odd = tmp_path / "namespace"
    odd.write_text("../etc\n")
    assert own_service(odd).namespace == "globaldns"
    assert own_service(tmp_path / "missing").namespace == "globaldns"
