"""Platforms that own CoreDNS's configuration, each wired its own way and given back as it was:
RKE2 through its HelmChartConfig, OpenShift through the DNS operator, k3s through the
`coredns-custom` it imports (never the `coredns` ConfigMap k3s re-applies)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from globaldns.install.coredns_custom import server_content
from globaldns.install.platforms import RKE2_DEFAULT_SERVERS

from .conftest import COREFILES, Clusters, configmap

PLATFORMS = Path(__file__).parent / "platforms"
RKE2_COREFILE = (COREFILES / "rke2.Corefile").read_text()
K3S_COREFILE = (COREFILES / "k3s.Corefile").read_text()
RKE2_CONFIG = yaml.safe_load((PLATFORMS / "rke2-helmchartconfig.yaml").read_text())
OPENSHIFT_DNS = yaml.safe_load((PLATFORMS / "openshift-dns-default.yaml").read_text())


def service_ip(cluster: Clusters) -> str:
    (service,) = cluster.control.objects(cluster.names[0], "v1", "Service", "globaldns")
    return str(service["spec"]["clusterIP"])


def helm_chart_configs(cluster: Clusters) -> list[dict[str, Any]]:
    return cluster.control.objects(
        cluster.names[0], "helm.cattle.io/v1", "HelmChartConfig", "kube-system"
    )


def openshift_dns(cluster: Clusters) -> dict[str, Any]:
    (dns,) = cluster.control.objects(cluster.names[0], "operator.openshift.io/v1", "DNS")
    return dns


def ours(address: str) -> dict[str, Any]:
    plugins = [
        {"name": "errors"},
        {"name": "cache", "parameters": 5},
        {"name": "forward", "parameters": f". {address}:53"},
    ]
    return {"zones": [{"zone": "global."}], "port": 53, "plugins": plugins}


@pytest.fixture
def rke2(make_clusters: Any) -> Clusters:
    """RKE2: no `coredns` ConfigMap; the chart's, and the HelmChartConfig CRD."""
    cluster: Clusters = make_clusters(corefile=None)
    (name,) = cluster.names
    cluster.control.set_crd(name, "helmchartconfigs")
    cluster.control.put(name, configmap("rke2-coredns-rke2-coredns", {"Corefile": RKE2_COREFILE}))
    return cluster


def test_rke2_gets_a_server_in_a_new_helm_chart_config_beside_the_chart_defaults(
    rke2: Clusters,
) -> None:
    run = rke2.globaldns("install")
    assert run.status == 0, run.out + run.err
    (config,) = helm_chart_configs(rke2)
    values = yaml.safe_load(config["spec"]["valuesContent"])
    assert values == {"servers": [*RKE2_DEFAULT_SERVERS, ours(service_ip(rke2))]}
    assert rke2.configmap(rke2.names[0], "rke2-coredns-rke2-coredns")["data"] == {
        "Corefile": RKE2_COREFILE
    }


def test_rke2_keeps_the_operators_values_and_uninstall_gives_them_back(rke2: Clusters) -> None:
    (name,) = rke2.names
    rke2.control.put(name, RKE2_CONFIG)
    assert rke2.globaldns("install").status == 0
    values = yaml.safe_load(helm_chart_configs(rke2)[0]["spec"]["valuesContent"])
    assert values["nodelocal"] == {"enabled": True}
    assert rke2.globaldns("install", "--ttl", "7").status == 0
    assert rke2.globaldns("uninstall").status == 0
    (config,) = helm_chart_configs(rke2)
    assert config["spec"] == RKE2_CONFIG["spec"]
    assert "annotations" not in config["metadata"]


def test_rke2_uninstall_deletes_the_helm_chart_config_install_created(rke2: Clusters) -> None:
    assert rke2.globaldns("install").status == 0
    assert rke2.globaldns("install").status == 0
    assert rke2.globaldns("uninstall").status == 0
    assert helm_chart_configs(rke2) == []


def test_rke2_reinstall_writes_nothing(rke2: Clusters) -> None:
    (name,) = rke2.names
    assert rke2.globaldns("install").status == 0
    rke2.control.clear_requests(name)
    assert rke2.globaldns("install").status == 0
    assert rke2.writes(name) == []


@pytest.fixture
def openshift(make_clusters: Any) -> Clusters:
    """OpenShift: CoreDNS is the DNS operator's (openshift-dns), no kube-system/coredns."""
    cluster: Clusters = make_clusters(corefile=None)
    (name,) = cluster.names
    cluster.control.set_crd(name, "dnses")
    cluster.control.put(name, OPENSHIFT_DNS)
    return cluster


def test_openshift_gets_a_server_in_the_dns_operator_spec(openshift: Clusters) -> None:
    run = openshift.globaldns("install")
    assert run.status == 0, run.out + run.err
    servers = openshift_dns(openshift)["spec"]["servers"]
    assert servers == [
        *OPENSHIFT_DNS["spec"]["servers"],
        {
            "name": "globaldns",
            "zones": ["global"],
            "forwardPlugin": {"upstreams": [f"{service_ip(openshift)}:53"]},
        },
    ]


def test_openshift_reinstall_writes_nothing_and_uninstall_restores_the_spec(
    openshift: Clusters,
) -> None:
    (name,) = openshift.names
    assert openshift.globaldns("install").status == 0
    openshift.control.clear_requests(name)
    assert openshift.globaldns("install").status == 0
    assert openshift.writes(name) == []
    assert openshift.globaldns("uninstall").status == 0
    dns = openshift_dns(openshift)
    assert dns["spec"] == OPENSHIFT_DNS["spec"]
    assert "annotations" not in dns["metadata"]


def test_openshift_refuses_keep_wired(openshift: Clusters) -> None:
    (name,) = openshift.names
    openshift.control.clear_requests(name)
    run = openshift.globaldns("install", "--keep-wired")
    assert run.status == 1
    assert "leave --keep-wired out" in run.out
    assert openshift.writes(name) == []


def test_openshift_refuses_a_server_sharing_the_zone_with_others(openshift: Clusters) -> None:
    (name,) = openshift.names
    shared = json.loads(json.dumps(OPENSHIFT_DNS))
    shared["spec"]["servers"][0]["zones"].append("global")
    openshift.control.put(name, shared)
    run = openshift.globaldns("install")
    assert run.status == 1
    assert "give global. a server of its own" in run.out


@pytest.fixture
def k3s(make_clusters: Any) -> Clusters:
    """k3s: its Corefile imports coredns-custom's `*.server` keys; the ConfigMap is optional."""
    cluster: Clusters = make_clusters(corefile=K3S_COREFILE)
    return cluster


def test_k3s_is_wired_through_a_new_coredns_custom_and_its_corefile_kept(k3s: Clusters) -> None:
    (name,) = k3s.names
    assert k3s.globaldns("install").status == 0
    assert k3s.corefile(name) == K3S_COREFILE
    custom = k3s.configmap(name, "coredns-custom")["data"]
    assert custom == {"global.server": server_content(service_ip(k3s))}


def test_k3s_reinstall_writes_nothing_and_uninstall_deletes_coredns_custom(
    k3s: Clusters,
) -> None:
    (name,) = k3s.names
    assert k3s.globaldns("install").status == 0
    k3s.control.clear_requests(name)
    assert k3s.globaldns("install").status == 0
    assert k3s.writes(name) == []
    assert k3s.globaldns("uninstall").status == 0
    assert k3s.configmap(name, "coredns-custom") is None
    assert k3s.corefile(name) == K3S_COREFILE


def test_k3s_keeps_a_coredns_custom_the_operator_filled_since(k3s: Clusters) -> None:
    (name,) = k3s.names
    assert k3s.globaldns("install").status == 0
    custom = k3s.configmap(name, "coredns-custom")
    custom["data"]["mine.override"] = "log\n"
    k3s.control.put(name, custom)
    assert k3s.globaldns("uninstall").status == 0
    assert k3s.configmap(name, "coredns-custom")["data"] == {"mine.override": "log\n"}


def test_coredns_custom_is_not_used_where_nothing_imports_it(make_clusters: Any) -> None:
    cluster: Clusters = make_clusters()
    (name,) = cluster.names
    cluster.control.put(name, configmap("coredns-custom", {"x.override": "log\n"}))
    assert cluster.globaldns("install").status == 0
    assert "global:53 {" in cluster.corefile(name)
    assert cluster.configmap(name, "coredns-custom")["data"] == {"x.override": "log\n"}
