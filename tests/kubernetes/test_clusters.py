"""Clusters joining and leaving at run time through remote Secrets, serve-stale and its bound,
readiness, and credentials kept out of the logs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import dns.rcode
import yaml

from tests.kubernetes.conftest import WAIT, Mesh, endpoints, service
from tests.support import REPO, wait_for


def test_a_remote_secret_added_and_removed_brings_its_cluster_in_and_out(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.serve([local], local)
    assert mesh.answer("web.bar.global") == []

    secret = mesh.remote_secret(remote)
    mesh.put(local, secret)
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])
    mesh.wait_state(remote, "synced")

    mesh.delete(local, secret)
    mesh.wait_answer("web.bar.global", [])
    assert remote not in [c["name"] for c in mesh.table()["clusters"]]


def test_an_unreachable_cluster_keeps_serving_until_the_serve_stale_bound(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.serve([local, remote], local, "--serve-stale", "2")
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])

    mesh.control.down(remote)
    mesh.wait_state(remote, "stale")
    assert mesh.answer("web.bar.global") == ["192.0.2.2"]
    mesh.wait_state(remote, "gone", timeout=2 + WAIT)
    mesh.wait_answer("web.bar.global", [])

    mesh.control.up(remote)
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])
    assert mesh.state(remote) == "synced"


def test_ready_waits_for_every_cluster_until_the_sync_timeout(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.control.down(remote)
    server = mesh.serve([local, remote], local, "--sync-timeout", "2", ready=False)
    mesh.wait_state(local, "synced")
    assert server.http("/ready")[0] == 503
    wait_for(lambda: server.http("/ready")[0] == 200, 2 + WAIT, what="/ready after giving up")
    assert mesh.state(remote) == "gave-up"


def test_ready_turns_200_once_every_cluster_synced(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.control.delay(remote, 1.0)
    server = mesh.serve([local, remote], local, ready=False)
    assert server.http("/ready")[0] == 503
    wait_for(lambda: server.http("/ready")[0] == 200, WAIT, what="/ready")
    assert {c["state"] for c in mesh.table()["clusters"]} == {"synced"}


def test_credentials_never_reach_a_log_line(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    secret = mesh.remote_secret(remote)
    mesh.put(local, secret)
    mesh.control.forbid(remote, "endpointslices")
    server = mesh.serve([local], local, "--sync-timeout", "1", ready=False)
    wait_for(lambda: "endpointslices" in server.logs(), WAIT, what="the 403 to be logged")
    mesh.control.down(remote)
    wait_for(lambda: "stale" in server.logs() or "gave-up" in server.logs(), WAIT, what="logs")
    kubeconfig = yaml.safe_load(base64.b64decode(next(iter(secret["data"].values()))))
    tokens = [u["user"]["token"] for u in kubeconfig["users"]]
    tokens += [u["user"]["token"] for u in mesh.control.kubeconfig([local])["users"]]
    logs = server.logs()
    assert "DEBUG" in logs
    assert not [token for token in tokens if token in logs]
    assert next(iter(secret["data"].values())) not in logs


def test_table_command_prints_what_the_clusters_hold(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    result = subprocess.run(
        [sys.executable, "-m", "globaldns", "table", "--format", "json",
         "--kubeconfig", str(mesh.kubeconfig([local, remote])), "--local-cluster", local],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    web = next(
        row for row in json.loads(result.stdout)["names"] if row["name"] == "web.bar.global."
    )
    assert (web["tier"], web["addresses"]) == ("remote", ["192.0.2.2"])


def test_while_a_cluster_never_synced_a_name_nobody_holds_is_servfail_then_nxdomain(
    mesh: Mesh,
) -> None:
    local = mesh.cluster("a", "west")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.control.down(remote)
    server = mesh.serve([local, remote], local, "--sync-timeout", "1", ready=False)
    mesh.wait_state(local, "synced")
    assert server.ask("web.bar.global").rcode() == dns.rcode.SERVFAIL
    mesh.wait_state(remote, "gave-up", timeout=6)
    assert server.ask("web.bar.global").rcode() == dns.rcode.SERVFAIL  # still never synced
    mesh.control.up(remote)
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])
    assert server.ask("nothing.bar.global").rcode() == dns.rcode.NXDOMAIN
