"""Remote Secrets are keyed by cluster ID, as Istio keys them (each data key a cluster): two
Secrets naming one cluster are logged and counted, and the oldest wins."""

from __future__ import annotations

import time

from harness import wait_for
from tests.kubernetes.conftest import Mesh, endpoints, service


def test_the_oldest_of_two_secrets_naming_one_cluster_wins_and_the_other_is_counted(
    mesh: Mesh,
) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    impostor = mesh.cluster("c", "east", "192.0.2.3")
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.put(impostor, service("bar", "web"), endpoints("bar", "web", True))
    oldest = mesh.remote_secret(remote)
    mesh.put(local, oldest)
    time.sleep(1.1)  # creationTimestamp has second precision
    newer = mesh.remote_secret(impostor)
    newer["metadata"]["name"] = "aaa-sorts-first"  # the name does not decide: age does
    newer["data"] = {remote: newer["data"][impostor]}
    mesh.put(local, newer)
    server = mesh.serve([local], local)
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])
    wait_for(
        lambda: server.metric("globaldns_remote_secret_duplicates_total") == 1,
        5,
        what="the duplicate counted",
    )
    (line,) = [
        entry
        for entry in server.logs().splitlines()
        if "which the older globaldns/" in entry and "already names" in entry
    ]
    assert "globaldns/aaa-sorts-first names cluster" in line
