"""An imported service's `global.` name (SPEC §7, the imports feed): the local cluster's
ClusterIP while it has a ready endpoint, else the ServiceImport's spec.ips, else the ready
endpoints its labelled slices list; through the emulator and the real client."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from harness import REPO, wait_for
from tests.clusterset.test_kubernetes_imports import imported_slice, service_import
from tests.kubernetes.conftest import WAIT, Mesh, endpoints, service

NAME = "web.bar.global"


def _local(mesh: Mesh) -> str:
    local = mesh.cluster("a", "west", "192.0.2.1")
    mesh.serve([local], local, "--mcs-imports")
    return local


def _explained(mesh: Mesh, name: str, clusters: int = 1, having: str = "") -> dict[str, Any]:
    """`/table?name=`: the view `globaldns table NAME` prints, with each cluster's part, once
    it is the import's with `clusters` parts, one of them `having`'s if given (the import and
    its slices arrive one by one)."""
    assert mesh.server is not None
    found: list[dict[str, Any]] = [{}]

    def imported() -> bool:
        assert mesh.server is not None
        status, body = mesh.server.http(f"/table?name={name}")
        found[0] = json.loads(body)["names"][0] if status == 200 else {}
        if found[0].get("kind") != "import" or len(found[0]["contributions"]) < clusters:
            return False
        return not having or any(c["cluster"] == having for c in found[0]["contributions"])

    wait_for(imported, WAIT, what=f"{name} explained as an import")
    return found[0]


def test_an_import_with_a_vip_answers_it_by_its_global_name(mesh: Mesh) -> None:
    local = _local(mesh)
    mesh.put(local, service_import("web", ips=("240.1.0.7",)))
    mesh.wait_answer(NAME, ["240.1.0.7"])
    assert mesh.answer(f"_http._tcp.{NAME}", "SRV") == [f"0 100 80 {NAME}."]


def test_the_local_cluster_ip_answers_first_while_it_has_a_ready_endpoint(mesh: Mesh) -> None:
    local = _local(mesh)
    created = mesh.put(local, service("bar", "web"), endpoints("bar", "web", True))
    mesh.put(local, service_import("web", ips=("240.1.0.7",)))
    mesh.wait_answer(NAME, [created[0]["spec"]["clusterIP"]])
    assert _explained(mesh, NAME)["tier"] == "local"


def test_the_vip_answers_once_the_local_endpoints_go_unready(mesh: Mesh) -> None:
    local = _local(mesh)
    created = mesh.put(local, service("bar", "web"), endpoints("bar", "web", True))
    mesh.put(local, service_import("web", ips=("240.1.0.7",)))
    mesh.put(local, imported_slice("web", "east", ("", "10.3.0.1")))
    mesh.wait_answer(NAME, [created[0]["spec"]["clusterIP"]])
    mesh.put(local, endpoints("bar", "web", False))
    mesh.wait_answer(NAME, ["240.1.0.7"])
    mesh.put(local, endpoints("bar", "web", True))
    mesh.wait_answer(NAME, [created[0]["spec"]["clusterIP"]])


def test_without_a_vip_the_remote_ready_endpoints_answer_once_local_ones_go(mesh: Mesh) -> None:
    local = _local(mesh)
    created = mesh.put(local, service("bar", "web"), endpoints("bar", "web", True))
    mesh.put(local, service_import("web"))
    mesh.put(local, imported_slice("web", "east", ("", "10.3.0.1")))
    mesh.put(local, imported_slice("web", "south", ("", "10.4.0.1")))
    mesh.wait_answer(NAME, [created[0]["spec"]["clusterIP"]])
    mesh.put(local, endpoints("bar", "web", False))
    mesh.wait_answer(NAME, ["10.3.0.1", "10.4.0.1"])


def test_with_nobody_ready_the_local_cluster_ip_answers_as_if_ready(mesh: Mesh) -> None:
    local = _local(mesh)
    created = mesh.put(local, service("bar", "web"), endpoints("bar", "web", False))
    unready = imported_slice("web", "east", ("", "10.3.0.1"))
    unready["endpoints"][0]["conditions"]["ready"] = False
    mesh.put(local, service_import("web"), unready)
    found = _explained(mesh, NAME, clusters=2)
    assert (found["tier"], found["addresses"]) == ("failopen", [created[0]["spec"]["clusterIP"]])
    mesh.wait_answer(NAME, [created[0]["spec"]["clusterIP"]])


def test_table_name_explains_which_tier_answered_and_each_clusters_part(mesh: Mesh) -> None:
    local = _local(mesh)
    mesh.put(local, service("bar", "web"), endpoints("bar", "web", False))
    mesh.put(local, service_import("web", ips=("240.1.0.7",)))
    mesh.put(local, imported_slice("web", "east", ("", "10.3.0.1")))
    mesh.wait_answer(NAME, ["240.1.0.7"])
    found = _explained(mesh, NAME, clusters=2, having="east")
    assert found["tier"] == "entry"
    assert "no ready endpoint locally; the ServiceImport's spec.ips 240.1.0.7" in found["reason"]
    parts = {c["cluster"]: c for c in found["contributions"]}
    assert not parts[local]["used"] and parts["east"]["used"]


def test_a_service_a_remote_watched_cluster_runs_keeps_its_service_answers(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.serve([local, remote], local, "--mcs-imports")
    mesh.put(local, service("bar", "web"), endpoints("bar", "web", False))
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.put(local, service_import("web", ips=("240.1.0.7",)))
    mesh.wait_answer(NAME, ["192.0.2.2"])  # the remote gateway, as without the import
    assert mesh.server is not None
    assert json.loads(mesh.server.http(f"/table?name={NAME}")[1])["names"][0]["kind"] == "service"


def test_the_table_command_explains_an_imported_name(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    mesh.put(local, service("bar", "web"), endpoints("bar", "web", False))
    mesh.put(local, service_import("web", ips=("240.1.0.7",)))
    result = subprocess.run(
        [sys.executable, "-m", "globaldns", "table", "--kubeconfig",
         str(mesh.kubeconfig([local])), "--local-cluster", local, "--mcs-imports", NAME],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith(f"{NAME}."))
    assert "entry (import)" in row and "240.1.0.7" in row and "spec.ips" in row
