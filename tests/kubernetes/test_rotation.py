"""Make-before-break (SPEC §4, issue 16): a changed remote Secret connects anew beside the old
connection, whose data serves until the new one has synced; a removed Secret's cluster goes
through the stale rules. No answer changes until then."""

from __future__ import annotations

import base64
import time
from typing import Any

import yaml

from harness import wait_for
from tests.kubernetes.conftest import WAIT, Mesh, endpoints, service

GATEWAY = "192.0.2.2"


def _with_token(secret: dict[str, Any], token: str) -> dict[str, Any]:
    """The Secret with its kubeconfig's token replaced."""
    ((key, encoded),) = secret["data"].items()
    config = yaml.safe_load(base64.b64decode(encoded))
    config["users"][0]["user"]["token"] = token
    data = {key: base64.b64encode(yaml.safe_dump(config).encode()).decode()}
    return {**secret, "data": data}


def _joined(mesh: Mesh, *args: str) -> tuple[str, str, dict[str, Any]]:
    """A local cluster and a remote one joined through its Secret, `web.bar` served by it."""
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", GATEWAY)
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.serve([local], local, *args)
    secret = mesh.remote_secret(remote)
    mesh.put(local, secret)
    mesh.wait_answer("web.bar.global", [GATEWAY])
    mesh.wait_state(remote, "synced")
    return local, remote, secret


def _new_connection(mesh: Mesh, cluster: str) -> dict[str, Any] | None:
    entry = next(c for c in mesh.table()["clusters"] if c["name"] == cluster)
    found: dict[str, Any] | None = entry["newConnection"]
    return found


def test_a_rotated_secret_good_to_good_serves_the_old_data_until_the_new_synced(
    mesh: Mesh,
) -> None:
    local, remote, _ = _joined(mesh)
    with mesh.steady("web.bar.global", f"web-{remote}.bar.global"):
        mesh.control.rotate_token(remote)
        mesh.control.delay(remote, 1.0)  # the new connection takes a while to sync
        mesh.put(local, mesh.remote_secret(remote))
        wait_for(lambda: _new_connection(mesh, remote) is not None, WAIT, what="new connection")
        assert mesh.state(remote) == "synced"  # the old connection still serves
        wait_for(lambda: _new_connection(mesh, remote) is None, WAIT, what="the new one synced")
    assert "the new connection synced and replaces the old one" in mesh.server.logs()  # type: ignore[union-attr]
    mesh.control.clear_faults(remote)
    mesh.put(remote, service("bar", "api"), endpoints("bar", "api", True))
    mesh.wait_answer("api.bar.global", [GATEWAY])  # through the new connection's token


def test_a_rotated_secret_good_to_bad_keeps_the_old_connection_and_says_why(
    mesh: Mesh,
) -> None:
    local, remote, secret = _joined(mesh, "--serve-stale", "1")
    with mesh.steady("web.bar.global"):
        mesh.put(local, _with_token(secret, "not-the-token"))
        wait_for(
            lambda: "401" in (_new_connection(mesh, remote) or {}).get("error", ""),
            WAIT,
            what="the new connection's error in /table",
        )
        time.sleep(1.5)  # past --serve-stale: the old connection is healthy, nothing is stale
    assert mesh.state(remote) == "synced"
    server = mesh.server
    assert server is not None
    assert f"cluster {remote} (new connection): services: HTTP 401" in server.logs()
    pending = f'globaldns_cluster_new_connection{{state="syncing",target_cluster="{remote}"}}'
    assert server.metric(pending) == 1
    mesh.control.down(remote)  # now the old connection fails too: the stale rules apply
    mesh.wait_state(remote, "stale")
    assert mesh.answer("web.bar.global") == [GATEWAY]
    mesh.wait_answer("web.bar.global", [])


def test_a_deleted_secret_keeps_its_clusters_data_for_the_stale_window(mesh: Mesh) -> None:
    local, remote, secret = _joined(mesh, "--serve-stale", "1.5")
    with mesh.steady("web.bar.global"):
        mesh.delete(local, secret)
        mesh.wait_state(remote, "stale")
        time.sleep(0.5)
    mesh.wait_answer("web.bar.global", [])
    wait_for(lambda: mesh.state(remote) == "absent", WAIT, what="the cluster forgotten")
    assert "its remote Secret was removed" in mesh.server.logs()  # type: ignore[union-attr]


def test_a_secret_put_back_within_the_stale_window_takes_over_without_a_gap(mesh: Mesh) -> None:
    local, remote, secret = _joined(mesh, "--serve-stale", "3")
    with mesh.steady("web.bar.global"):
        mesh.delete(local, secret)
        mesh.wait_state(remote, "stale")
        mesh.put(local, secret)
        mesh.wait_state(remote, "synced")
        time.sleep(3)  # past the first stale window: the cluster serves on


def test_a_secret_put_back_broken_leaves_its_cluster_listed_once_the_old_data_expired(
    mesh: Mesh,
) -> None:
    local, remote, secret = _joined(mesh, "--serve-stale", "1")
    mesh.delete(local, secret)
    mesh.wait_state(remote, "stale")
    mesh.put(local, _with_token(secret, "not-the-token"))
    mesh.wait_answer("web.bar.global", [])  # the old data's stale window ended
    wait_for(lambda: mesh.state(remote) == "syncing", WAIT, what="the new connection listed")
    wait_for(lambda: "HTTP 401" in _error(mesh, remote), WAIT, what="its error in /table")


def _error(mesh: Mesh, cluster: str) -> str:
    return str(next(c["error"] for c in mesh.table()["clusters"] if c["name"] == cluster))
