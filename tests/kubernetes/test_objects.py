"""Services, identities, ServiceEntries, gateways and regions appearing, changing and
disappearing in any cluster, as DNS answers see them."""

from __future__ import annotations

import json

from tests.kubernetes.conftest import (
    Mesh,
    endpoints,
    gateway,
    namespace,
    node,
    service,
    service_entry,
)


def _two(mesh: Mesh) -> tuple[str, str]:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.serve([local, remote], local)
    return local, remote


def test_a_service_appears_changes_name_and_disappears_in_a_remote_cluster(mesh: Mesh) -> None:
    _, remote = _two(mesh)
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])

    mesh.put(remote, service("bar", "web", labels={"identity": "shop"}))
    mesh.wait_answer("shop.global", ["192.0.2.2"])
    mesh.wait_answer("web.bar.global", [])

    mesh.delete(remote, service("bar", "web"))
    mesh.wait_answer("shop.global", [])


def test_a_local_service_answers_its_cluster_ip(mesh: Mesh) -> None:
    local, _ = _two(mesh)
    created = mesh.put(local, service("bar", "api"), endpoints("bar", "api", True))
    mesh.wait_answer("api.bar.global", [created[0]["spec"]["clusterIP"]])


def test_a_headless_service_answers_its_ready_endpoints(mesh: Mesh) -> None:
    local, _ = _two(mesh)
    mesh.put(local, service("bar", "db", headless=True), endpoints("bar", "db", True, False, True))
    mesh.wait_answer("db.bar.global", ["10.244.0.10", "10.244.0.12"])


def test_a_namespace_identity_names_its_services(mesh: Mesh) -> None:
    _, remote = _two(mesh)
    mesh.put(remote, namespace("shop", {"identity": "store"}), service("shop", "cart"))
    mesh.put(remote, endpoints("shop", "cart", True))
    mesh.wait_answer("store.global", ["192.0.2.2"])
    mesh.put(remote, namespace("shop"))
    mesh.wait_answer("cart.shop.global", ["192.0.2.2"])
    mesh.wait_answer("store.global", [])


def test_services_outside_the_export_selection_are_not_served(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    mesh.serve([local], local, "--export-selector", "export=yes")
    ip = mesh.put(local, service("bar", "in", labels={"export": "yes"}), service("bar", "out"))
    mesh.put(local, endpoints("bar", "in", True), endpoints("bar", "out", True))
    mesh.put(local, service("kube-system", "dns", labels={"export": "yes"}))
    mesh.wait_answer("in.bar.global", [ip[0]["spec"]["clusterIP"]])
    assert mesh.answer("out.bar.global") == []
    assert mesh.answer("dns.kube-system.global") == []


def test_a_service_entry_appears_changes_and_disappears(mesh: Mesh) -> None:
    _, remote = _two(mesh)
    entry = service_entry("legacy", ["legacy.db.global", "other.example.com"], ["240.0.0.2"])
    mesh.put(remote, entry)
    mesh.wait_answer("legacy.db.global", ["240.0.0.2"])
    mesh.put(remote, service_entry("legacy", ["legacy.db.global"], ["240.0.0.3/32"]))
    mesh.wait_answer("legacy.db.global", ["240.0.0.3"])
    mesh.delete(remote, entry)
    mesh.wait_answer("legacy.db.global", [])


def test_a_resolution_none_service_entry_is_not_named(mesh: Mesh) -> None:
    local, _ = _two(mesh)
    none = service_entry("none", ["none.global"], ["240.0.0.5"])
    none["spec"]["resolution"] = "NONE"
    mesh.put(local, none, service_entry("kept", ["kept.global"], ["240.0.0.6"]))
    mesh.wait_answer("kept.global", ["240.0.0.6"])
    assert mesh.answer("none.global") == []


def test_a_service_entry_cidr_wider_than_one_address_is_not_named(mesh: Mesh) -> None:
    local, _ = _two(mesh)
    wide = service_entry("wide", ["wide.global"], ["240.0.0.0/24"])
    mesh.put(local, wide, service_entry("one", ["one.global"], ["240.0.0.7/32"]))
    mesh.wait_answer("one.global", ["240.0.0.7"])
    assert mesh.answer("wide.global") == []


def test_a_service_entry_without_addresses_is_not_named_without_a_default(mesh: Mesh) -> None:
    local, _ = _two(mesh)
    mesh.put(local, service_entry("bare", ["bare.global"], []))
    mesh.put(local, service_entry("kept", ["kept.global"], ["240.0.0.6"]))
    mesh.wait_answer("kept.global", ["240.0.0.6"])
    assert mesh.answer("bare.global") == []


def test_a_service_entry_without_addresses_answers_the_default_address(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    mesh.serve([local], local, "--default-address", "240.0.0.100")
    mesh.put(local, service_entry("bare", ["bare.global"], []))
    mesh.wait_answer("bare.global", ["240.0.0.100"])


def test_table_name_says_which_cluster_entry_was_skipped_and_why(mesh: Mesh) -> None:
    local, _ = _two(mesh)
    none = service_entry("none", ["none.global"], ["240.0.0.5"])
    none["spec"]["resolution"] = "NONE"
    mesh.put(local, none, service_entry("kept", ["kept.global"], ["240.0.0.6"]))
    mesh.wait_answer("kept.global", ["240.0.0.6"])
    assert mesh.server is not None
    status, body = mesh.server.http("/table?name=none.global")
    assert status == 200, body
    (view,) = json.loads(body)["names"]
    assert view["reason"] == (
        f"not served: ServiceEntry default/none from {local} has resolution NONE (its sidecar "
        "forwards to the address dialled; istiocoredns named none)"
    )


def test_a_namespace_private_service_entry_is_named_as_istiocoredns_named_it(mesh: Mesh) -> None:
    """`exportTo` limits which sidecars get the entry's routes; DNS cannot tell namespaces
    apart (every query comes from CoreDNS), so the name answers, as istiocoredns's did."""
    local, _ = _two(mesh)
    private = service_entry("private", ["private.global"], ["240.0.0.11"])
    private["spec"]["exportTo"] = ["."]
    listed = service_entry("listed", ["listed.global"], ["240.0.0.12"])
    listed["spec"]["exportTo"] = ["bar", "shop"]
    mesh.put(local, private, listed)
    mesh.wait_answer("private.global", ["240.0.0.11"])
    mesh.wait_answer("listed.global", ["240.0.0.12"])


def test_a_v1beta1_service_entry_is_served(mesh: Mesh) -> None:
    local, _ = _two(mesh)
    mesh.put(local, service_entry("old", ["old.global"], ["240.0.0.9"], version="v1beta1"))
    mesh.wait_answer("old.global", ["240.0.0.9"])


def test_a_cluster_without_the_service_entry_crd_syncs_normally(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    mesh.control.set_service_entries(local, False)
    mesh.put(local, service("bar", "x"), endpoints("bar", "x", True))
    mesh.serve([local], local)
    assert mesh.state(local) == "synced"


def test_gateway_addresses_follow_the_load_balancer_and_its_hostname(mesh: Mesh) -> None:
    _, remote = _two(mesh)
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])
    mesh.control.set_load_balancer(
        remote, "istio-system", "istio-eastwestgateway", [{"ip": "192.0.2.9"}]
    )
    mesh.wait_answer("web.bar.global", ["192.0.2.9"])
    mesh.put(remote, gateway(hostname="localhost"))
    mesh.wait_answer("web.bar.global", ["127.0.0.1"])
    mesh.delete(remote, gateway())
    mesh.wait_answer("web.bar.global", [])  # no gateway: nobody can reach it


def test_a_static_gateway_and_region_override_the_cluster(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    config = mesh.tmp / "config.yaml"
    config.write_text(
        f"kubernetes:\n  clusters:\n    {remote}: {{region: west, gateways: [198.51.100.7]}}\n"
    )
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.serve([local, remote], local, "--config", str(config))
    mesh.wait_answer("web.bar.global", ["198.51.100.7"])
    mesh.wait_answer("web-west.bar.global", ["198.51.100.7"])


def test_the_region_is_what_most_nodes_say(mesh: Mesh) -> None:
    _, remote = _two(mesh)
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.wait_answer("web-east.bar.global", ["192.0.2.2"])
    mesh.put(remote, node("n2", "south"), node("n3", "south"))
    mesh.wait_answer("web-south.bar.global", ["192.0.2.2"])
    assert mesh.answer("web-east.bar.global") == []
