"""`globaldns table --format serviceentry` over Kubernetes: the entry for a Service's name
from what the clusters hold (the local ClusterIP, the remote cluster's gateway Service)."""

from __future__ import annotations

import subprocess
import sys

import yaml

from harness import REPO
from tests.kubernetes.conftest import Mesh, endpoints, service


def test_the_entry_names_the_local_cluster_ip_and_the_remote_gateway_on_15443(
    mesh: Mesh,
) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    created = mesh.put(local, service("bar", "web"), endpoints("bar", "web", True))
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    result = subprocess.run(
        [sys.executable, "-m", "globaldns", "table", "--format", "serviceentry",
         "--kubeconfig", str(mesh.kubeconfig([local, remote])), "--local-cluster", local,
         "web.bar.global"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    entry = yaml.safe_load(result.stdout)
    assert entry["spec"]["hosts"] == ["web.bar.global"]
    assert entry["spec"]["ports"] == [{"number": 80, "name": "http", "protocol": "HTTP"}]
    assert entry["spec"]["endpoints"] == [
        {"address": created[0]["spec"]["clusterIP"], "locality": "west"},
        {"address": "192.0.2.2", "ports": {"http": 15443}, "locality": "east"},
    ]
