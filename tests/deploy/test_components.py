"""The opt-in components fit the base: they select its pods, name its ports and namespace."""

from __future__ import annotations

import re
from typing import Any

import pytest

from globaldns.manifests import load

from .conftest import find

ALERTS = {
    "GlobalDnsDown",
    "GlobalDnsNotReady",
    "GlobalDnsClusterStale",
    "GlobalDnsClusterGone",
    "GlobalDnsCoreDnsUnwired",
    "GlobalDnsClusterGatewaysDown",
    "GlobalDnsReloadErrors",
    "GlobalDnsInternalErrors",
    "GlobalDnsLatencyHigh",
    "GlobalDnsClusterDataOld",
    "GlobalDnsFailOpenAnswers",
}


def _pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    template: dict[str, Any] = find(objects, "Deployment", "globaldns")["spec"]["template"]
    return template


def _container_ports(objects: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    (container,) = _pod(objects)["spec"]["containers"]
    return {p["name"]: (p["containerPort"], p["protocol"]) for p in container["ports"]}


def test_critical_priority_is_admitted_by_a_quota_scoped_to_it() -> None:
    """GKE admits system-*-critical pods outside kube-system only under such a quota."""
    objects = load(["critical-pods-quota"])
    deployment = find(objects, "Deployment", "globaldns")
    quota = find(objects, "ResourceQuota", "globaldns-critical-pods")
    assert quota["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    (scope,) = quota["spec"]["scopeSelector"]["matchExpressions"]
    priority = deployment["spec"]["template"]["spec"]["priorityClassName"]
    assert (scope["scopeName"], scope["operator"], scope["values"]) == (
        "PriorityClass",
        "In",
        [priority],
    )
    spec = deployment["spec"]
    assert (
        int(quota["spec"]["hard"]["pods"])
        >= spec["replicas"] + spec["strategy"]["rollingUpdate"]["maxSurge"]
    )


@pytest.fixture
def policy() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    objects = load(["networkpolicy"])
    return find(objects, "NetworkPolicy", "globaldns"), objects


def test_network_policy_selects_the_globaldns_pods_for_ingress(
    policy: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    rule, objects = policy
    labels = _pod(objects)["metadata"]["labels"]
    assert rule["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert rule["spec"]["policyTypes"] == ["Ingress"]
    assert (
        rule["metadata"]["namespace"]
        == find(objects, "Deployment", "globaldns")["metadata"]["namespace"]
    )


def _admitted(rule: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(port name, protocol) -> the `from` peers admitted to it."""
    return {
        (port["port"], port["protocol"]): ingress["from"]
        for ingress in rule["spec"]["ingress"]
        for port in ingress["ports"]
    }


def test_network_policy_admits_dns_from_every_namespace(
    policy: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    rule, objects = policy
    admitted = _admitted(rule)
    ports = _container_ports(objects)
    for name in ("dns-udp", "dns-tcp"):
        assert admitted[(name, ports[name][1])][0] == {"namespaceSelector": {}}


def test_network_policy_admits_dns_from_node_addresses_for_node_local_dns(
    policy: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """The cache's queries come from the nodes (hostNetwork): an ipBlock the operator sets."""
    rule, objects = policy
    admitted = _admitted(rule)
    ports = _container_ports(objects)
    for name in ("dns-udp", "dns-tcp"):
        assert admitted[(name, ports[name][1])][1:] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}]


def test_network_policy_admits_the_admin_port_only_from_the_monitoring_namespace(
    policy: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    rule, objects = policy
    admitted = _admitted(rule)
    assert set(admitted) == {("dns-udp", "UDP"), ("dns-tcp", "TCP"), ("admin", "TCP")}
    assert admitted[("admin", _container_ports(objects)["admin"][1])] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


@pytest.fixture
def monitoring() -> list[dict[str, Any]]:
    return load(["monitoring"])


def test_service_monitor_scrapes_the_service_metrics_port(monitoring: list[dict[str, Any]]) -> None:
    monitor = find(monitoring, "ServiceMonitor", "globaldns")
    service = find(monitoring, "Service", "globaldns")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


def test_alert_rules_name_the_job_the_service_monitor_gives(
    monitoring: list[dict[str, Any]],
) -> None:
    monitor = find(monitoring, "ServiceMonitor", "globaldns")
    job = find(monitoring, "Service", "globaldns")["metadata"]["labels"][
        monitor["spec"]["jobLabel"]
    ]
    rules = find(monitoring, "PrometheusRule", "globaldns")["spec"]["groups"][0]["rules"]
    jobs = {m for rule in rules for m in re.findall(r'job="([^"]*)"', rule["expr"])}
    assert jobs == {job}


def test_alert_rules_cover_each_failure_with_severity_and_text(
    monitoring: list[dict[str, Any]],
) -> None:
    (group,) = find(monitoring, "PrometheusRule", "globaldns")["spec"]["groups"]
    assert {rule["alert"] for rule in group["rules"]} == ALERTS
    for rule in group["rules"]:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
