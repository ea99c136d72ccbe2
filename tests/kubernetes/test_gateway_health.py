"""SPEC §2 "Gateway health" end to end through the Kubernetes emulator: gateways probed on their
`tls` port, gateway Services whose EndpointSlices go unready, API servers down with their
gateways down or up."""

from __future__ import annotations

from typing import Any

from harness import wait_for
from harness.gateways import GatewayFarm
from tests.kubernetes.conftest import Mesh, endpoints, gateway, service

PROBING = ("--gateway-probe-interval", "0.2", "--gateway-probe-timeout", "0.2")


def probed_gateway(address: str, tls_port: int) -> dict[str, Any]:
    """The east-west gateway Service on a loopback address, its `tls` port the one probed."""
    obj = gateway(address)
    obj["spec"]["ports"] = [{"name": "tls", "port": tls_port, "protocol": "TCP"}]
    return obj


def two_remotes(mesh: Mesh, farm: GatewayFarm) -> tuple[str, str, str]:
    """local (west) without `web`; near (west) and far (east) with it ready, gateways probed."""
    local = mesh.cluster("a", "west")
    near = mesh.cluster("b", "west")
    far = mesh.cluster("c", "east")
    for cluster, address in ((near, "127.0.21.1"), (far, "127.0.22.1")):
        farm.gateway(address)
        mesh.put(
            cluster,
            probed_gateway(address, farm.port),
            service("bar", "web"),
            endpoints("bar", "web", True),
        )
    return local, near, far


def test_kubernetes_gateways_are_probed_by_default_on_their_tls_port(
    mesh: Mesh, farm: GatewayFarm
) -> None:
    local, near, far = two_remotes(mesh, farm)
    mesh.serve([local, near, far], local, *PROBING, probe=True)
    mesh.wait_answer("web.bar.global", ["127.0.21.1", "127.0.22.1"])
    farm.gateways[0].refuse()
    mesh.wait_answer("web.bar.global", ["127.0.22.1"])
    farm.gateways[0].accept()
    mesh.wait_answer("web.bar.global", ["127.0.21.1", "127.0.22.1"])


def test_gateway_slices_with_no_ready_endpoint_take_the_cluster_out_at_once(
    mesh: Mesh, farm: GatewayFarm
) -> None:
    local, near, far = two_remotes(mesh, farm)
    mesh.serve([local, near, far], local)  # probes off: readiness alone decides
    mesh.wait_answer("web.bar.global", ["127.0.21.1", "127.0.22.1"])
    mesh.put(near, endpoints("istio-system", "istio-eastwestgateway", False))
    mesh.wait_answer("web.bar.global", ["127.0.22.1"])
    mesh.put(near, endpoints("istio-system", "istio-eastwestgateway", True))
    mesh.wait_answer("web.bar.global", ["127.0.21.1", "127.0.22.1"])


def near_api_down(mesh: Mesh, farm: GatewayFarm) -> str:
    """Both remotes answered, probed, serving stale for long; then near's API goes down."""
    local, near, far = two_remotes(mesh, farm)
    mesh.serve([local, near, far], local, *PROBING, "--serve-stale", "300", probe=True)
    mesh.wait_answer("web.bar.global", ["127.0.21.1", "127.0.22.1"])
    mesh.control.down(near)
    mesh.wait_state(near, "stale")
    return near


def test_an_unreachable_api_with_its_gateway_down_drops_the_cluster(
    mesh: Mesh, farm: GatewayFarm
) -> None:
    near_api_down(mesh, farm)
    farm.gateways[0].black_hole()
    mesh.wait_answer("web.bar.global", ["127.0.22.1"])


def test_an_unreachable_api_with_its_gateway_up_keeps_serving_stale(
    mesh: Mesh, farm: GatewayFarm
) -> None:
    near_api_down(mesh, farm)
    wait_for(lambda: mesh.server is not None and probes(mesh) >= 20, 5, what="more probes")
    assert mesh.answer("web.bar.global") == ["127.0.21.1", "127.0.22.1"]


def probes(mesh: Mesh) -> float:
    assert mesh.server is not None
    return mesh.server.metric("globaldns_gateway_probe_duration_seconds_count")
