"""The dashboard and the alert rules query only metrics globaldns exports (SPEC §5, issue 9.7)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from globaldns.manifests import load
from harness import REPO, GlobalDns

from .conftest import example_mesh
from .scrape import scrape

DASHBOARD = REPO / "dashboards" / "globaldns.json"
# Metrics a mesh-file server on loopback does not export, each with the code that does; the
# test checks that code still names them, so a rename cannot slip past.
ELSEWHERE = {
    # Only with a cluster to check: the wiring watchdog (Kubernetes mode, --local-cluster).
    "globaldns_coredns_wired": REPO / "globaldns" / "install" / "watchdog.py",
    # Only with gateway probes on (--gateway-probe-port) and gateways to probe.
    "globaldns_gateway_up": REPO / "globaldns",
    # Only for Kubernetes clusters, whose watches prove their data current.
    "globaldns_cluster_data_age_seconds": REPO / "globaldns" / "server" / "metrics.py",
}
# Prometheus adds `up` to every target itself.
FROM_PROMETHEUS = {"up"}
OUR_PREFIXES = ("globaldns_", "process_", "python_")
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _expressions(value: Any) -> list[str]:
    """Every PromQL string in a dashboard: `expr` of targets, `query` of template variables."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in {"expr", "definition"} and isinstance(v, str)]
        return found + [e for v in value.values() for e in _expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in _expressions(v)]
    return []


def _rule_expressions() -> list[str]:
    rules = next(o for o in load(["monitoring"]) if o["kind"] == "PrometheusRule")
    return [rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]]


def _metric_names(expressions: list[str]) -> set[str]:
    """Names that are metrics: ours by prefix, and `up` (label names and functions are not)."""
    return {
        name
        for expression in expressions
        for name in NAME.findall(re.sub(r'"[^"]*"', '""', expression))
        if name.startswith(OUR_PREFIXES) or name in FROM_PROMETHEUS
    }


def _defined_in(name: str, where: Any) -> bool:
    files = [where] if where.is_file() else sorted(where.rglob("*.py"))
    return any(f'"{name}"' in file.read_text() for file in files)


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Sample names of a live server after a UDP and a TCP query (histogram samples included)."""
    server = GlobalDns(example_mesh()).start()
    try:
        server.ask("foo.global")
        server.ask("foo.global", tcp=True)
        return {sample.name for sample in scrape(server)}
    finally:
        server.stop()


def _queries(source: str) -> list[str]:
    if source == "dashboard":
        return _expressions(json.loads(DASHBOARD.read_text()))
    return _rule_expressions()


@pytest.mark.parametrize("source", ["dashboard", "alert rules"])
def test_every_metric_queried_is_exported(source: str, exported: set[str]) -> None:
    expressions = _queries(source)
    referenced = _metric_names(expressions) - FROM_PROMETHEUS
    assert referenced, f"no metric found in the {source}"
    missing = referenced - exported - set(ELSEWHERE)
    assert not missing, f"the {source} queries metrics globaldns does not export: {missing}"


@pytest.mark.parametrize("name", sorted(ELSEWHERE))
def test_metrics_exported_only_in_other_modes_are_named_by_their_exporter(name: str) -> None:
    assert _defined_in(name, ELSEWHERE[name])


def test_the_check_above_sees_a_misspelt_metric(exported: set[str]) -> None:
    """Guards the extraction: a wrong name in a query must be caught, a label must not."""
    names = _metric_names(
        ['sum by (proto) (rate(globaldns_request_duraton_seconds_count{job="x"}[5m]))']
    )
    assert names == {"globaldns_request_duraton_seconds_count"}
    assert not names <= exported


def test_every_dashboard_panel_has_a_query_and_a_description() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
        assert panel["description"], panel["title"]


# `cluster` is federated Prometheus's usual external label for the observing cluster; the
# cluster a series concerns is `target_cluster` (SPEC §5), so nothing may read `cluster`.
CLUSTER_LABEL_READ = re.compile(
    r"\$labels\.cluster\b"
    r"|\{\{\s*cluster\s*\}\}"
    r"|\bby \((?:[^)]*,\s*)?cluster\s*[,)]"
    r"|[{,]\s*cluster\s*=~?\""
)


@pytest.mark.parametrize("source", ["dashboard", "alert rules"])
def test_nothing_groups_shows_or_filters_by_a_cluster_label(source: str) -> None:
    if source == "dashboard":
        text = DASHBOARD.read_text()
    else:
        text = json.dumps(next(o for o in load(["monitoring"]) if o["kind"] == "PrometheusRule"))
    assert "target_cluster" in text
    assert CLUSTER_LABEL_READ.findall(text) == []


def test_the_cluster_label_check_sees_each_way_of_reading_it() -> None:
    reads = [
        "max by (cluster) (x)",
        "by (state, cluster)",
        "{{cluster}}",
        "$labels.cluster",
        'x{cluster="a"}',
    ]
    assert all(CLUSTER_LABEL_READ.search(read) for read in reads)
    assert not CLUSTER_LABEL_READ.search("max by (target_cluster) (x) {{target_cluster}}")
