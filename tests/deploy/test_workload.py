"""The Deployment, Service, PodDisruptionBudget and ConfigMap fit together and run hardened."""

from __future__ import annotations

import tomllib
from typing import Any

import yaml

from .conftest import REPO, find

# README "Benchmarks": bench/kube_bench.py at 50 clusters x 1,000 Services.
MEASURED_RESIDENT_MIB_AT_50_CLUSTERS = 233


def _flag(container: dict[str, Any], name: str) -> str:
    args = container["args"]
    return args[args.index(name) + 1]


def _port(container: dict[str, Any], name: str) -> dict[str, Any]:
    (port,) = [p for p in container["ports"] if p["name"] == name]
    return port


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) == {"matchLabels"}
    return selector["matchLabels"].items() <= labels.items()


def test_deployment_runs_at_least_two_replicas(deployment: dict[str, Any]) -> None:
    assert deployment["spec"]["replicas"] >= 2


def test_replicas_spread_across_nodes(deployment: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    hostname = [
        c
        for c in pod.get("topologySpreadConstraints", [])
        if c["topologyKey"] == "kubernetes.io/hostname" and c["maxSkew"] == 1
    ]
    assert len(hostname) == 1
    assert _selects(hostname[0]["labelSelector"], labels)


def test_rollout_never_drops_a_ready_replica(deployment: dict[str, Any]) -> None:
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_deployment_selector_matches_its_pods(deployment: dict[str, Any]) -> None:
    assert _selects(
        deployment["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]
    )


def test_liveness_probes_health_on_the_admin_port(container: dict[str, Any]) -> None:
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/health"
    assert probe["port"] == "admin"


def test_readiness_probes_ready_on_the_admin_port(container: dict[str, Any]) -> None:
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/ready"
    assert probe["port"] == "admin"


def test_admin_port_is_where_the_server_listens_for_http(container: dict[str, Any]) -> None:
    assert _flag(container, "--admin") == f"[::]:{_port(container, 'admin')['containerPort']}"


def test_dns_ports_are_where_the_server_listens(container: dict[str, Any]) -> None:
    listen = _flag(container, "--listen")
    for name, protocol in (("dns-udp", "UDP"), ("dns-tcp", "TCP")):
        port = _port(container, name)
        assert (listen, port["protocol"]) == (f"[::]:{port['containerPort']}", protocol)


def test_dns_port_needs_no_privilege(container: dict[str, Any]) -> None:
    assert _port(container, "dns-udp")["containerPort"] >= 1024


def test_pod_runs_as_non_root(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] > 0
    assert container["securityContext"]["runAsNonRoot"] is True


def test_container_root_filesystem_is_read_only(container: dict[str, Any]) -> None:
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_container_drops_all_capabilities_and_adds_none(container: dict[str, Any]) -> None:
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_container_requests_cpu_and_memory(container: dict[str, Any]) -> None:
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}


def test_image_tag_is_the_project_version(container: dict[str, Any]) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert container["image"] == f"globaldns:{project['version']}"


def test_config_flag_points_into_the_mounted_configmap(
    base: list[dict[str, Any]], deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    directory, _, key = _flag(container, "--config").rpartition("/")
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    (volume,) = [
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
    ]
    configmap = find(base, "ConfigMap", volume["configMap"]["name"])
    assert configmap["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert key in configmap["data"]


def test_config_file_holds_zone_ttl_and_local_cluster(base: list[dict[str, Any]]) -> None:
    config = yaml.safe_load(find(base, "ConfigMap", "globaldns")["data"]["config.yaml"])
    assert config == {"zone": "global", "ttl": 5, "localCluster": None}


def test_service_answers_dns_on_53_over_udp_and_tcp(
    base: list[dict[str, Any]], container: dict[str, Any]
) -> None:
    service = find(base, "Service", "globaldns")
    ports = {
        (p["port"], p["protocol"], p["targetPort"])
        for p in service["spec"]["ports"]
        if p["name"] != "metrics"
    }
    assert ports == {(53, "UDP", "dns-udp"), (53, "TCP", "dns-tcp")}
    assert {_port(container, name)["protocol"] for _, _, name in ports} == {"UDP", "TCP"}


def test_service_exposes_the_admin_port_as_metrics(
    base: list[dict[str, Any]], container: dict[str, Any]
) -> None:
    (metrics,) = [
        p for p in find(base, "Service", "globaldns")["spec"]["ports"] if p["name"] == "metrics"
    ]
    assert (metrics["port"], metrics["protocol"], metrics["targetPort"]) == (9153, "TCP", "admin")
    assert _port(container, "admin")["containerPort"] == 9153


def test_pods_run_at_the_priority_coredns_runs_at(deployment: dict[str, Any]) -> None:
    assert deployment["spec"]["template"]["spec"]["priorityClassName"] == "system-cluster-critical"


def test_startup_probe_checks_health_before_liveness_starts(container: dict[str, Any]) -> None:
    probe = container["startupProbe"]
    assert (probe["httpGet"]["path"], probe["httpGet"]["port"]) == ("/health", "admin")
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 60


def test_lameduck_ends_well_inside_the_termination_grace_period(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    """SIGTERM starts the lameduck; the kubelet's SIGKILL must not cut it or the exit short."""
    lameduck = float(_flag(container, "--lameduck"))
    assert lameduck == 5
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= lameduck + 5


def _mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_memory_is_sized_by_the_readme_formula_for_fifty_clusters(
    container: dict[str, Any],
) -> None:
    """README "Sizing": 100 MiB + 3 MiB per cluster (of 1,000 Services); limit twice that."""
    request = _mebibytes(container["resources"]["requests"]["memory"])
    limit = _mebibytes(container["resources"]["limits"]["memory"])
    assert request == 100 + 3 * 50
    assert request >= MEASURED_RESIDENT_MIB_AT_50_CLUSTERS
    assert limit == 2 * request


# bench/kube_bench.py: a first sync of 50 clusters x 1,000 Services costs 6.1-6.5 s of CPU.
FIRST_SYNC_CPU_SECONDS_AT_50_CLUSTERS = 6.5


def test_cpu_request_covers_a_first_sync_of_fifty_clusters_in_half_a_minute(
    container: dict[str, Any],
) -> None:
    """README "Sizing": the request is what a restart's first sync needs to finish in ~30 s."""
    cpu = container["resources"]["requests"]["cpu"]
    assert cpu.endswith("m")
    assert int(cpu[:-1]) / 1000 * 30 >= FIRST_SYNC_CPU_SECONDS_AT_50_CLUSTERS


def test_service_selects_the_deployment_pods(
    base: list[dict[str, Any]], deployment: dict[str, Any]
) -> None:
    service = find(base, "Service", "globaldns")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_disruption_budget_keeps_a_replica_of_the_deployment(
    base: list[dict[str, Any]], deployment: dict[str, Any]
) -> None:
    budget = find(base, "PodDisruptionBudget", "globaldns")
    assert budget["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert _selects(
        budget["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]
    )
    assert 1 <= budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_keep_wired_turns_the_watchdog_repair_on(keep_wired: list[dict[str, Any]]) -> None:
    (container,) = find(keep_wired, "Deployment", "globaldns")["spec"]["template"]["spec"][
        "containers"
    ]
    assert "--keep-wired" in container["args"]


def test_base_leaves_the_watchdog_repair_off(container: dict[str, Any]) -> None:
    assert "--keep-wired" not in container["args"]
