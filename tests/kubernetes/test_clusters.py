"""Clusters joining and leaving at run time through remote Secrets, serve-stale and its bound,
readiness, and credentials kept out of the logs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import dns.rcode
import yaml

from harness import REPO, wait_for
from tests.kubernetes.conftest import WAIT, Mesh, endpoints, service


def test_a_remote_secret_added_and_removed_brings_its_cluster_in_and_out(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.serve([local], local, "--serve-stale", "0.5")
    assert mesh.answer("web.bar.global") == []

    secret = mesh.remote_secret(remote)
    mesh.put(local, secret)
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])
    mesh.wait_state(remote, "synced")

    mesh.delete(local, secret)  # its data goes through the stale window (test_rotation)
    mesh.wait_answer("web.bar.global", [])
    wait_for(lambda: mesh.state(remote) == "absent", WAIT, what="the cluster forgotten")


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


def test_ready_needs_the_local_clusters_first_sync_not_the_remotes(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.control.down(remote)
    server = mesh.serve([local, remote], local, ready=False)
    wait_for(lambda: server.http("/ready")[0] == 200, WAIT, what="/ready")
    assert mesh.state(remote) == "syncing"


def test_a_labelled_secret_whose_server_is_unreachable_never_unreadies_a_serving_replica(
    mesh: Mesh,
) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.control.down(remote)
    server = mesh.serve([local], local, "--sync-timeout", "1", "--serve-stale", "1")
    mesh.put(local, mesh.remote_secret(remote))
    mesh.wait_state(remote, "syncing")
    statuses = set()
    deadline = time.monotonic() + 3  # past --sync-timeout and the stale window after it
    while time.monotonic() < deadline:
        statuses.add(server.http("/ready")[0])
        time.sleep(0.05)
    assert statuses == {200}
    assert mesh.state(remote) != "synced"


def test_ready_wait_remote_holds_ready_for_remote_first_syncs_up_to_its_bound(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.control.down(remote)
    server = mesh.serve([local, remote], local, "--ready-wait-remote", "2", ready=False)
    mesh.wait_state(local, "synced")
    assert server.http("/ready") == (
        503,
        f"waiting up to 2s (--ready-wait-remote) for the first sync of: {remote}\n",
    )
    wait_for(lambda: server.http("/ready")[0] == 200, 2 + WAIT, what="/ready past the bound")
    assert mesh.state(remote) == "syncing"


def test_ready_wait_remote_ends_as_soon_as_every_cluster_synced(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.control.delay(remote, 1.0)
    server = mesh.serve([local, remote], local, "--ready-wait-remote", "30", ready=False)
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


def test_table_command_prints_each_clusters_state_and_data_age(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    result = subprocess.run(
        [sys.executable, "-m", "globaldns", "table",
         "--kubeconfig", str(mesh.kubeconfig([local])), "--local-cluster", local],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.split("CLUSTER  STATE", 1)[1].splitlines()[:2]
    assert "DATA AGE" in header
    name, state, _since, age = row.split()[:4]
    assert (name, state) == (local, "synced")
    assert age.endswith("s") and float(age[:-1]) < 5


def test_a_never_synced_cluster_holds_names_at_servfail_one_stale_window_past_giving_up(
    mesh: Mesh,
) -> None:
    local = mesh.cluster("a", "west")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.control.down(remote)
    args = ("--sync-timeout", "1", "--serve-stale", "1.5")
    server = mesh.serve([local, remote], local, *args, ready=False)
    mesh.wait_state(local, "synced")
    assert server.ask("web.bar.global").rcode() == dns.rcode.SERVFAIL
    mesh.wait_state(remote, "gave-up")
    assert server.ask("web.bar.global").rcode() == dns.rcode.SERVFAIL  # still never synced
    mesh.wait_state(remote, "missing")
    assert server.ask("web.bar.global").rcode() == dns.rcode.NXDOMAIN
    missing = f'globaldns_cluster_state{{state="missing",target_cluster="{remote}"}}'
    assert server.metric(missing) == 1
    assert "never synced; names no synced cluster holds answer NXDOMAIN" in server.logs()
    mesh.control.up(remote)
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])
    assert server.ask("nothing.bar.global").rcode() == dns.rcode.NXDOMAIN
