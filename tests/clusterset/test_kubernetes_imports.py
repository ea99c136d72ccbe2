"""The imports feed (SPEC §7, `--mcs-imports`): the local cluster's ServiceImports and the
EndpointSlices an MCS implementation labels, through the emulator and the real client."""

from __future__ import annotations

from typing import Any

import dns.rcode

from harness import wait_for
from tests.kubernetes.conftest import WAIT, Mesh

MCS = "multicluster.x-k8s.io/v1alpha1"
ZONE = "svc.clusterset.local"


def service_import(name: str, kind: str = "ClusterSetIP", ips: tuple[str, ...] = ()) -> dict:
    spec: dict[str, Any] = {"type": kind, "ports": [{"name": "http", "port": 80}]}
    if ips:
        spec["ips"] = list(ips)
    return {
        "apiVersion": MCS,
        "kind": "ServiceImport",
        "metadata": {"name": name, "namespace": "bar"},
        "spec": spec,
    }


def imported_slice(name: str, cluster: str, *pods: tuple[str, str]) -> dict[str, Any]:
    """The EndpointSlice an MCS implementation writes for `name`'s endpoints in `cluster`."""
    labels = {
        "multicluster.kubernetes.io/service-name": name,
        "multicluster.kubernetes.io/source-cluster": cluster,
    }
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-{cluster}", "namespace": "bar", "labels": labels},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [address], "hostname": host, "conditions": {"ready": True}}
            for host, address in pods
        ],
    }


def _local(mesh: Mesh, *args: str) -> str:
    local = mesh.cluster("a", "west", "192.0.2.1")
    mesh.serve([local], local, *args)
    return local


def test_a_clusterset_ip_import_answers_its_spec_ips(mesh: Mesh) -> None:
    local = _local(mesh, "--mcs-imports")
    mesh.put(local, service_import("web", ips=("240.1.0.7",)))
    mesh.wait_answer(f"web.bar.{ZONE}", ["240.1.0.7"])
    assert mesh.answer(f"_http._tcp.web.bar.{ZONE}", "SRV") == [f"0 100 80 web.bar.{ZONE}."]


def test_a_headless_import_answers_the_source_clusters_pods_by_name(mesh: Mesh) -> None:
    local = _local(mesh, "--mcs-imports")
    mesh.put(local, service_import("db", "Headless"))
    mesh.put(local, imported_slice("db", "east", ("db-0", "10.3.0.1"), ("db-1", "10.3.0.2")))
    mesh.put(local, imported_slice("db", "south", ("db-0", "10.4.0.1")))
    mesh.wait_answer(f"db.bar.{ZONE}", ["10.3.0.1", "10.3.0.2", "10.4.0.1"])
    mesh.wait_answer(f"db-1.east.db.bar.{ZONE}", ["10.3.0.2"])
    mesh.wait_answer(f"db-0.south.db.bar.{ZONE}", ["10.4.0.1"])


def test_an_import_going_away_takes_its_names(mesh: Mesh) -> None:
    local = _local(mesh, "--mcs-imports")
    mesh.put(local, service_import("web", ips=("240.1.0.7",)))
    mesh.wait_answer(f"web.bar.{ZONE}", ["240.1.0.7"])
    mesh.delete(local, service_import("web"))
    assert mesh.server is not None
    wait_for(lambda: mesh.server.ask(f"web.bar.{ZONE}").rcode() == dns.rcode.NXDOMAIN, WAIT)


def test_without_the_flag_imports_are_not_read(mesh: Mesh) -> None:
    local = _local(mesh)
    mesh.put(local, service_import("web", ips=("240.1.0.7",)))
    assert mesh.server is not None
    assert mesh.server.ask(f"web.bar.{ZONE}").rcode() == dns.rcode.NXDOMAIN
    assert not any("serviceimports" in r["path"] for r in mesh.control.requests(local))


def test_a_slice_relabelled_to_another_source_cluster_moves_its_pods(mesh: Mesh) -> None:
    local = _local(mesh, "--mcs-imports")
    mesh.put(local, service_import("db", "Headless"))
    moved = imported_slice("db", "east", ("db-0", "10.3.0.1"))
    mesh.put(local, moved, imported_slice("db", "south", ("db-0", "10.4.0.1")))
    mesh.wait_answer(f"db-0.east.db.bar.{ZONE}", ["10.3.0.1"])
    moved["metadata"]["labels"]["multicluster.kubernetes.io/source-cluster"] = "north"
    mesh.put(local, moved)
    mesh.wait_answer(f"db-0.north.db.bar.{ZONE}", ["10.3.0.1"])
    assert mesh.server is not None
    assert mesh.server.ask(f"db-0.east.db.bar.{ZONE}").rcode() == dns.rcode.NXDOMAIN
    assert mesh.answer(f"db.bar.{ZONE}") == ["10.3.0.1", "10.4.0.1"]
