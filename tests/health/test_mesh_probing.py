"""SPEC §2 "Gateway health" end to end through a mesh file: `globaldns serve` probing real
loopback listeners that accept, refuse and black-hole, and come back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness import GlobalDns, addresses, wait_for
from harness.gateways import Gateway, GatewayFarm

INTERVAL = 0.2  # probes every 0.2 s: a dead gateway leaves within 4 intervals, 0.8 s
WAIT = 5.0
LOCAL_IP = "10.0.0.10"
GATEWAYS = {"near": "127.0.11.1", "near2": "127.0.12.1", "far": "127.0.13.1"}
REGIONS = {"here": "west", "near": "west", "near2": "west", "far": "east"}


def mesh_file(probe_ports: dict[str, int] | None = None) -> dict[str, Any]:
    """`foo` ready in every remote cluster, not in the local one; gateways on loopback."""
    clusters: list[dict[str, Any]] = [
        {"name": "here", "region": "west", "gateways": ["127.0.10.1"]}
    ]
    for name, address in GATEWAYS.items():
        clusters.append({"name": name, "region": REGIONS[name], "gateways": [address]})
        if probe_ports and name in probe_ports:
            clusters[-1]["probePort"] = probe_ports[name]
    return {
        "zone": "global",
        "localCluster": "here",
        "clusters": clusters,
        "services": [
            {
                "name": "foo",
                "instances": {
                    "here": {"addresses": [LOCAL_IP], "ready": 0},
                    **{name: {"addresses": ["10.9.9.9"], "ready": 1} for name in GATEWAYS},
                },
            }
        ],
    }


def gateway(farm: GatewayFarm, cluster: str) -> Gateway:
    return next(g for g in farm.gateways if g.address == GATEWAYS[cluster])


@pytest.fixture
def serve(farm: GatewayFarm) -> Iterator[Any]:
    """Starts `globaldns serve` on the mesh, every remote gateway accepting at first."""
    for address in GATEWAYS.values():
        farm.gateway(address)
    servers: list[GlobalDns] = []

    def start(*args: str, mesh: dict[str, Any] | None = None) -> GlobalDns:
        server = GlobalDns(
            mesh or mesh_file(),
            ["--gateway-probe-interval", str(INTERVAL), "--gateway-probe-timeout", "0.2", *args],
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        print(server.logs())
        server.stop()


def answer(server: GlobalDns, name: str) -> list[str]:
    return sorted(addresses(server.ask(name)))


def wait_answer(server: GlobalDns, name: str, expected: list[str], timeout: float = WAIT) -> None:
    wanted = sorted(expected)
    wait_for(lambda: answer(server, name) == wanted, timeout, 0.02, f"{name} -> {wanted}")


def probed(server: GlobalDns) -> float:
    return server.metric("globaldns_gateway_probe_duration_seconds_count")


def probing_on(farm: GatewayFarm) -> list[str]:
    return ["--gateway-probe-port", str(farm.port)]


def refuse_near(server: GlobalDns, farm: GatewayFarm) -> None:
    """The near cluster's gateway refuses; wait until `foo.global` has left it."""
    gateway(farm, "near").refuse()
    wait_answer(server, "foo.global", [GATEWAYS["near2"], GATEWAYS["far"]])


def test_a_refused_gateway_leaves_the_answers_and_comes_back(serve: Any, farm: GatewayFarm) -> None:
    server = serve(*probing_on(farm))
    wait_answer(server, "foo.global", list(GATEWAYS.values()))
    refuse_near(server, farm)
    gateway(farm, "near").accept()
    wait_answer(server, "foo.global", list(GATEWAYS.values()))


def test_a_black_holed_gateway_leaves_the_answers(serve: Any, farm: GatewayFarm) -> None:
    server = serve(*probing_on(farm))
    gateway(farm, "far").black_hole()
    wait_answer(server, "foo.global", [GATEWAYS["near"], GATEWAYS["near2"]])


def test_when_every_ready_remote_gateway_is_down_the_answers_fail_open(
    serve: Any, farm: GatewayFarm
) -> None:
    server = serve(*probing_on(farm))
    for cluster in GATEWAYS:
        gateway(farm, cluster).refuse()
    wait_for(
        lambda: (
            server.metric("globaldns_gateway_up") == 0
            and "1.0" not in metric_lines(server, "globaldns_gateway_up{")
        ),
        WAIT,
        what="every gateway down",
    )
    assert answer(server, "foo.global") == sorted(GATEWAYS.values())


def test_a_cluster_pinned_name_answers_its_gateways_up_or_down(
    serve: Any, farm: GatewayFarm
) -> None:
    server = serve(*probing_on(farm))
    refuse_near(server, farm)
    assert answer(server, "foo-near.global") == [GATEWAYS["near"]]


def test_a_region_pinned_name_applies_health_within_its_region_and_fails_open_there(
    serve: Any, farm: GatewayFarm
) -> None:
    server = serve(*probing_on(farm))
    wait_answer(server, "foo-west.global", [GATEWAYS["near"], GATEWAYS["near2"]])
    gateway(farm, "near").refuse()
    wait_answer(server, "foo-west.global", [GATEWAYS["near2"]])
    gateway(farm, "near2").refuse()
    wait_answer(server, "foo.global", [GATEWAYS["far"]])
    assert answer(server, "foo-west.global") == [GATEWAYS["near"], GATEWAYS["near2"]]


def test_a_mesh_file_is_not_probed_unless_turned_on(serve: Any, farm: GatewayFarm) -> None:
    for cluster in GATEWAYS:
        gateway(farm, cluster).refuse()
    server = serve("--gateway-probe-interval", "0.05")
    wait_for(lambda: server.metric("globaldns_table_names") > 0, WAIT, what="the table")
    wait_for(lambda: "globaldns_gateway_up{" in server.http("/metrics")[1], WAIT, what="metrics")
    assert probed(server) == 0
    assert answer(server, "foo.global") == sorted(GATEWAYS.values())


def test_a_clusters_probe_port_turns_probing_on_for_that_cluster(
    serve: Any, farm: GatewayFarm
) -> None:
    for cluster in GATEWAYS:
        gateway(farm, cluster).refuse()
    server = serve(mesh=mesh_file({"far": farm.port}))
    wait_answer(server, "foo.global", [GATEWAYS["near"], GATEWAYS["near2"]])


def test_probe_port_0_turns_probing_off_everywhere(serve: Any, farm: GatewayFarm) -> None:
    for cluster in GATEWAYS:
        gateway(farm, cluster).refuse()
    server = serve("--gateway-probe-port", "0", mesh=mesh_file({"far": farm.port}))
    wait_for(lambda: "globaldns_gateway_up{" in server.http("/metrics")[1], WAIT, what="metrics")
    assert probed(server) == 0
    assert answer(server, "foo.global") == sorted(GATEWAYS.values())


def gateways_up(server: GlobalDns) -> list[int]:
    lines = metric_lines(server, "globaldns_gateway_up{").splitlines()
    return [int(float(line.rsplit(" ", 1)[1])) for line in lines]


def metric_lines(server: GlobalDns, prefix: str) -> str:
    return "\n".join(
        line for line in server.http("/metrics")[1].splitlines() if line.startswith(prefix)
    )


def test_gateway_up_is_exported_per_cluster_and_address(serve: Any, farm: GatewayFarm) -> None:
    server = serve(*probing_on(farm))
    gateway(farm, "far").refuse()
    far = f'globaldns_gateway_up{{address="{GATEWAYS["far"]}",target_cluster="far"}}'
    near = f'globaldns_gateway_up{{address="{GATEWAYS["near"]}",target_cluster="near"}}'
    wait_for(lambda: f"{far} 0.0" in metric_lines(server, far), WAIT, what="far down")
    assert f"{near} 1.0" in metric_lines(server, near)
    assert "here" not in metric_lines(server, "globaldns_gateway_up{")
    assert probed(server) >= 3


def test_a_names_reason_says_which_cluster_it_skipped_and_why(
    serve: Any, farm: GatewayFarm
) -> None:
    server = serve(*probing_on(farm))
    refuse_near(server, farm)
    names = json.loads(server.http("/table?name=foo.global")[1])["names"]
    reason = next(n["reason"] for n in names if n["name"] == "foo.global.")
    assert f"near skipped: {GATEWAYS['near']} refused 3 times" in reason
