"""Fault sequences: random watch drops, 410s after compaction, a cluster down and back, 403 on
one resource; afterwards the table must equal the emulator's truth: no lost or phantom names.
And each way an API can fail (SPEC §4, issue 16): answers that were answering never blank or
turn SERVFAIL, `/ready` stays 200, and each state change is a log line, a metric and `/table`."""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any

from tests.kube_emulator import ControlError
from tests.kubernetes.conftest import Mesh, endpoints, service
from tests.support import wait_for

STALE = 1.0  # --serve-stale of the tests below: short, so windows pass quickly

GATEWAYS = {"a": "192.0.2.1", "b": "192.0.2.2"}
REGIONS = {"a": "west", "b": "east"}


def _truth(mesh: Mesh, local: str, remote: str) -> dict[str, list[str]]:
    """Name -> addresses of its global name, computed from the emulator's objects alone."""
    found: dict[str, dict[str, tuple[str, int]]] = {}  # service -> cluster -> (ip, ready)
    for cluster in (local, remote):
        slices = mesh.control.objects(cluster, "discovery.k8s.io/v1", "EndpointSlice", "bar")
        ready = {
            s["metadata"]["labels"]["kubernetes.io/service-name"]: sum(
                1 for e in s["endpoints"] if e["conditions"]["ready"]
            )
            for s in slices
        }
        for svc in mesh.control.objects(cluster, "v1", "Service", "bar"):
            name = svc["metadata"]["name"]
            found.setdefault(name, {})[cluster] = (svc["spec"]["clusterIP"], ready.get(name, 0))
    names: dict[str, list[str]] = {}
    for name, where in found.items():
        host = f"{name}.bar"
        if local in where and where[local][1] > 0:
            names[host] = [where[local][0]]
        elif remote in where and where[remote][1] > 0:
            names[host] = [GATEWAYS["b"]]
        elif local in where:
            names[host] = [where[local][0]]
        else:
            names[host] = [GATEWAYS["b"]]
        for cluster in where:
            suffix = cluster[-1]
            names[f"{name}-{cluster}.bar"] = []
            names[f"{name}-{REGIONS[suffix]}.bar"] = []
    return names


def _served(mesh: Mesh) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in mesh.table()["names"]:
        host = entry["name"].removesuffix(".global.")
        pinned = entry["kind"] != "service"
        out[host] = [] if pinned else sorted(entry["addresses"])
    return out


def _random_change(mesh: Mesh, rng: random.Random, cluster: str) -> None:
    name = f"s{rng.randrange(6)}"
    if rng.random() < 0.25:
        for api_version, kind, obj_name in (
            ("v1", "Service", name),
            ("discovery.k8s.io/v1", "EndpointSlice", f"{name}-slice"),
        ):
            with contextlib.suppress(ControlError):  # already gone
                mesh.control.delete(cluster, api_version, kind, obj_name, "bar")
        return
    objects: list[dict[str, Any]] = [service("bar", name)]
    objects.append(endpoints("bar", name, *(rng.random() < 0.5 for _ in range(2))))
    mesh.put(cluster, *objects)


def test_after_drops_compactions_outages_and_403s_the_table_equals_the_truth(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", GATEWAYS["a"])
    remote = mesh.cluster("b", "east", GATEWAYS["b"])
    mesh.put(remote, service("bar", "s0"), endpoints("bar", "s0", True))
    mesh.serve([local, remote], local, "--serve-stale", "60")
    rng = random.Random(20240607)
    faults = ["drop", "compact", "outage", "forbid"]
    for step in range(24):
        cluster = rng.choice((local, remote))
        fault = faults[step % len(faults)]
        _random_change(mesh, rng, cluster)
        if fault == "drop":
            mesh.control.drop_watches(cluster)
        elif fault == "compact":
            _random_change(mesh, rng, cluster)
            mesh.control.compact(cluster)
            mesh.control.drop_watches(cluster)
        elif fault == "outage":
            mesh.control.down(cluster)
            _random_change(mesh, rng, cluster)
            mesh.control.up(cluster)
        else:
            mesh.control.forbid(cluster, "endpointslices")
            mesh.control.drop_watches(cluster)
            _random_change(mesh, rng, cluster)
            mesh.control.clear_faults(cluster)
        _random_change(mesh, rng, rng.choice((local, remote)))

    truth = _truth(mesh, local, remote)
    wait_for(lambda: _served(mesh) == truth, 15, 0.1, "the table to equal the truth")
    # Watches of resources that saw no change may still be backing off: they catch up too.
    wait_for(lambda: mesh.state(local) == mesh.state(remote) == "synced", 15, 0.1, "both synced")


def _web(mesh: Mesh, local: str, remote: str) -> str:
    """`web.bar` ready in both clusters; returns the local ClusterIP it answers with."""
    made = mesh.put(local, service("bar", "web"), endpoints("bar", "web", True))
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.put(remote, service("bar", "api"), endpoints("bar", "api", True))
    return str(made[0]["spec"]["clusterIP"])


def test_while_the_local_api_is_down_its_last_known_entries_keep_answering(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", GATEWAYS["a"])
    remote = mesh.cluster("b", "east", GATEWAYS["b"])
    cluster_ip = _web(mesh, local, remote)
    server = mesh.serve([local, remote], local, "--serve-stale", str(STALE))
    mesh.wait_answer("web.bar.global", [cluster_ip])
    with mesh.steady("web.bar.global", "api.bar.global"):
        mesh.control.down(local)
        mesh.wait_state(local, "stale")
        time.sleep(2 * STALE)  # past the stale window: the local cluster is never withdrawn
        assert mesh.state(local) == "stale"
    assert server.metric(f'globaldns_cluster_state{{cluster="{local}",state="stale"}}') == 1
    assert f"cluster {local}: stale (" in server.logs()
    mesh.control.up(local)
    mesh.wait_state(local, "synced")
