"""The exports feed (SPEC §7): ServiceExports in the clusters already watched put their
Services into clusterset.local, through the emulator and the real client."""

from __future__ import annotations

import json
import time
from typing import Any

import dns.rcode

from harness import wait_for
from tests.kubernetes.conftest import WAIT, Mesh, endpoints, namespace, service

MCS = "multicluster.x-k8s.io/v1alpha1"
ZONE = "svc.clusterset.local"


def service_export(namespace_: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": MCS,
        "kind": "ServiceExport",
        "metadata": {"name": name, "namespace": namespace_},
    }


def pod_slice(namespace_: str, name: str, *pods: tuple[str, str]) -> dict[str, Any]:
    """A headless Service's EndpointSlice: one ready endpoint per (hostname, address)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-slice",
            "namespace": namespace_,
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [address], "hostname": host, "conditions": {"ready": True}}
            for host, address in pods
        ],
    }


def _two(mesh: Mesh, crds: bool = True, **serve: Any) -> tuple[str, str]:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    if not crds:
        for cluster in (local, remote):
            mesh.control.set_crd(cluster, "serviceexports", False)
    mesh.serve([local, remote], local, **serve)
    return local, remote


def cluster_ip(mesh: Mesh, cluster: str) -> str:
    """The ClusterIP of the cluster's only Service in `bar`."""
    return str(mesh.control.objects(cluster, "v1", "Service", "bar")[0]["spec"]["clusterIP"])


def rcode(mesh: Mesh, name: str) -> int:
    assert mesh.server is not None
    return mesh.server.ask(name).rcode()


def test_an_exported_service_answers_its_local_cluster_ip(mesh: Mesh) -> None:
    local, _ = _two(mesh)
    created = mesh.put(local, service("bar", "web"), endpoints("bar", "web", True))
    mesh.put(local, service_export("bar", "web"))
    mesh.wait_answer(f"web.bar.{ZONE}", [created[0]["spec"]["clusterIP"]])


def test_a_service_without_an_export_is_not_in_the_clusterset(mesh: Mesh) -> None:
    local, _ = _two(mesh)
    mesh.put(local, service("bar", "web"), endpoints("bar", "web", True))
    mesh.wait_answer("web.bar.global", [cluster_ip(mesh, local)])
    assert rcode(mesh, f"web.bar.{ZONE}") == dns.rcode.NXDOMAIN


def test_a_remote_export_answers_its_gateways_and_goes_with_the_export(mesh: Mesh) -> None:
    _, remote = _two(mesh)
    mesh.put(remote, service("bar", "api"), endpoints("bar", "api", True))
    mesh.put(remote, service_export("bar", "api"))
    mesh.wait_answer(f"api.bar.{ZONE}", ["192.0.2.2"])
    mesh.delete(remote, service_export("bar", "api"))
    wait_for(lambda: rcode(mesh, f"api.bar.{ZONE}") == dns.rcode.NXDOMAIN, WAIT)
    assert mesh.answer("api.bar.global") == ["192.0.2.2"]


def test_headless_exports_answer_every_clusters_pods_and_per_pod_names(mesh: Mesh) -> None:
    local, remote = _two(mesh)
    for cluster, address in ((local, "10.244.1.1"), (remote, "10.244.2.1")):
        mesh.put(cluster, service("bar", "db", headless=True), service_export("bar", "db"))
        mesh.put(cluster, pod_slice("bar", "db", ("db-0", address)))
    mesh.wait_answer(f"db.bar.{ZONE}", ["10.244.1.1", "10.244.2.1"])
    mesh.wait_answer(f"db-0.{remote}.db.bar.{ZONE}", ["10.244.2.1"])
    srv = mesh.answer(f"_http._tcp.db.bar.{ZONE}", "SRV")
    assert srv == sorted(f"0 100 80 db-0.{c}.db.bar.{ZONE}." for c in (local, remote))


def test_names_exist_only_for_namespaces_of_the_local_cluster(mesh: Mesh) -> None:
    local, remote = _two(mesh)
    mesh.put(remote, namespace("far"), service("far", "web"), endpoints("far", "web", True))
    mesh.put(remote, service_export("far", "web"))
    mesh.wait_answer("web.far.global", ["192.0.2.2"])
    assert rcode(mesh, f"web.far.{ZONE}") == dns.rcode.NXDOMAIN
    mesh.put(local, namespace("far"))
    mesh.wait_answer(f"web.far.{ZONE}", ["192.0.2.2"])


def test_without_the_crd_the_clusters_sync_and_export_nothing(mesh: Mesh) -> None:
    local, _ = _two(mesh, crds=False)
    mesh.put(local, service("bar", "web"), endpoints("bar", "web", True))
    mesh.wait_answer("web.bar.global", [cluster_ip(mesh, local)])
    assert rcode(mesh, f"web.bar.{ZONE}") == dns.rcode.NXDOMAIN
    assert mesh.state(local) == "synced"


def test_the_crd_installed_later_is_watched(mesh: Mesh) -> None:
    local, _ = _two(mesh, crds=False)
    created = mesh.put(local, service("bar", "web"), endpoints("bar", "web", True))
    mesh.control.set_crd(local, "serviceexports")
    mesh.put(local, service_export("bar", "web"))
    wait_for(lambda: mesh.answer(f"web.bar.{ZONE}") == [created[0]["spec"]["clusterIP"]], 15)


def test_a_conflict_between_exports_is_won_by_the_oldest_explained_and_counted(mesh: Mesh) -> None:
    local, remote = _two(mesh)
    mesh.put(remote, service("bar", "mix"), endpoints("bar", "mix", True))
    mesh.put(remote, service_export("bar", "mix"))
    time.sleep(1.1)  # creationTimestamps are whole seconds: the remote export is older
    mesh.put(local, service("bar", "mix", headless=True), service_export("bar", "mix"))
    mesh.put(local, pod_slice("bar", "mix", ("mix-0", "10.244.1.9")))
    server = mesh.server
    assert server is not None

    def explained() -> dict[str, Any]:
        status, body = server.http(f"/table?name=mix.bar.{ZONE}")
        assert status == 200
        found: dict[str, Any] = json.loads(body)["names"][0]
        return found

    # The remote export alone answers the same address: wait for the local one to arrive.
    wait_for(lambda: "conflict" in explained()["reason"], 15)
    mesh.wait_answer(f"mix.bar.{ZONE}", ["192.0.2.2"])  # ClusterSetIP, the older export's kind
    found = explained()
    assert found["name"] == f"mix.bar.{ZONE}."
    assert local in found["reason"]
    assert mesh.server.metric("globaldns_clusterset_export_conflicts_total") == 1
