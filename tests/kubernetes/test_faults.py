"""Fault sequences: random watch drops, 410s after compaction, a cluster down and back, 403 on
one resource; afterwards the table must equal the emulator's truth: no lost or phantom names.
And each way an API can fail (SPEC §4, issue 16): answers that were answering never blank or
turn SERVFAIL, `/ready` stays 200, and each state change is a log line, a metric and `/table`."""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any

import pytest

from globaldns.sources.kubernetes.options import KUBERNETES_OPTIONS
from globaldns.sources.kubernetes.watch import (
    CONNECT_MAX,
    KEEPALIVE_IDLE,
    KEEPALIVE_INTERVAL,
    KEEPALIVE_PROBES,
)
from harness import wait_for
from harness.kube_emulator import ControlError
from tests.kubernetes.conftest import WAIT, Mesh, endpoints, service

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
    assert server.metric(f'globaldns_cluster_state{{state="stale",target_cluster="{local}"}}') == 1
    assert f"cluster {local}: stale (" in server.logs()
    mesh.control.up(local)
    mesh.wait_state(local, "synced")


def _synced_pair(mesh: Mesh, *args: str) -> tuple[str, str, str]:
    """Local and remote synced, `web.bar` (local ClusterIP) and `api.bar` (remote only)."""
    local = mesh.cluster("a", "west", GATEWAYS["a"])
    remote = mesh.cluster("b", "east", GATEWAYS["b"])
    cluster_ip = _web(mesh, local, remote)
    mesh.serve([local, remote], local, *args)
    mesh.wait_answer("web.bar.global", [cluster_ip])
    mesh.wait_answer("api.bar.global", [GATEWAYS["b"]])
    return local, remote, cluster_ip


def _error(mesh: Mesh, cluster: str) -> str:
    return str(next(c["error"] for c in mesh.table()["clusters"] if c["name"] == cluster))


@pytest.mark.parametrize("code", [401, 403, 404, 429, 503])
def test_an_api_answering_an_error_makes_the_cluster_stale_with_its_reason(
    mesh: Mesh, code: int
) -> None:
    _, remote, _ = _synced_pair(mesh, "--serve-stale", "30")
    server = mesh.server
    assert server is not None
    with mesh.steady("web.bar.global", "api.bar.global"):
        mesh.control.fail(remote, code)
        mesh.control.drop_watches(remote)  # the next requests get the error
        mesh.wait_state(remote, "stale")
        assert f"HTTP {code}" in _error(mesh, remote)
        assert (
            server.metric(f'globaldns_cluster_state{{state="stale",target_cluster="{remote}"}}')
            == 1
        )
        assert f"cluster {remote}: stale (" in server.logs()
        mesh.control.clear_faults(remote)
        mesh.wait_state(remote, "synced")


def test_retry_after_is_honoured(mesh: Mesh) -> None:
    _, remote, _ = _synced_pair(mesh, "--serve-stale", "30")
    mesh.control.fail(remote, 429, retry_after=3)
    mesh.control.clear_requests(remote)
    mesh.control.drop_watches(remote)
    mesh.wait_state(remote, "stale")
    time.sleep(2)
    refused = [r for r in mesh.control.requests(remote) if r["status"] == 429]
    # One try per resource (six, the ServiceExports among them), then each waits 3 s
    # (--watch-backoff-max 0.5 alone would retry several times a second).
    assert len(refused) <= 6
    mesh.control.clear_faults(remote)
    mesh.wait_state(remote, "synced", timeout=3 + WAIT)


def test_a_half_open_watch_is_replaced_within_the_liveness_interval(mesh: Mesh) -> None:
    _, remote, _ = _synced_pair(mesh, "--watch-liveness", "1")
    server = mesh.server
    assert server is not None
    stalled = time.monotonic()
    assert mesh.stall_watches(remote) >= 4  # silent, never closed: no FIN
    mesh.put(remote, service("bar", "late"), endpoints("bar", "late", True))
    mesh.wait_answer("late.bar.global", [GATEWAYS["b"]])
    assert time.monotonic() - stalled < 1 + 2  # the liveness interval, and a reconnect
    assert "no event or bookmark for 1s; reconnecting" in server.logs()
    assert mesh.state(remote) == "synced"  # replaced at once: nothing went stale


def test_by_default_a_dead_connection_is_detected_and_replaced_within_30_seconds() -> None:
    liveness = next(o for o in KUBERNETES_OPTIONS if o.flag == "--watch-liveness").default
    assert isinstance(liveness, float)
    assert liveness + min(CONNECT_MAX, liveness) <= 30  # silent, then a new connection or stale
    assert KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_PROBES <= 30  # TCP finds a dead peer


@pytest.mark.parametrize("fault", ["hang", "slow"])
def test_an_api_that_answers_too_slowly_or_never_makes_the_cluster_stale(
    mesh: Mesh, fault: str
) -> None:
    _, remote, _ = _synced_pair(mesh, "--watch-liveness", "1", "--serve-stale", "30")
    with mesh.steady("web.bar.global", "api.bar.global"):
        if fault == "hang":
            mesh.control.hang(remote)
        else:
            mesh.control.delay(remote, 3)
        mesh.stall_watches(remote)
        mesh.wait_state(remote, "stale")
        assert "no answer within 1s (--watch-liveness)" in _error(mesh, remote)
        mesh.control.clear_faults(remote)
        mesh.wait_state(remote, "synced")


def test_the_watch_connections_carry_tcp_keepalive(mesh: Mesh) -> None:
    _, remote, _ = _synced_pair(mesh)
    port = next(c["port"] for c in mesh.control.clusters() if c["name"] == remote)
    timers = _client_timers(port)
    assert timers and set(timers) == {2}, timers  # 2: the keepalive timer runs


def _client_timers(port: int) -> list[int]:
    """The kernel's timer kind (`tr` in /proc/net/tcp) of each established connection to
    127.0.0.1:`port`, seen from the connecting side."""
    timers = []
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[3] == "01":  # ESTABLISHED
                timers.append(int(fields[5].split(":")[0], 16))
    return timers


def test_lists_are_served_from_the_watch_cache_first_and_on_relists(mesh: Mesh) -> None:
    _, remote, _ = _synced_pair(mesh)
    mesh.stall_watches(remote)  # the watches miss what follows
    mesh.put(remote, service("bar", "late"), endpoints("bar", "late", True))
    mesh.control.compact(remote)
    mesh.control.drop_watches(remote)  # resuming from before the compaction gets 410: relist
    mesh.wait_answer("late.bar.global", [GATEWAYS["b"]])
    # The answer can come from the EndpointSlices' relist before the Services' relist is sent
    # (a Services watch opened after the stall saw the Service itself): wait for the relist.
    wait_for(lambda: len(_service_lists(mesh, remote)) >= 2, WAIT, what="the Services relisted")
    lists = _service_lists(mesh, remote)
    assert all("resourceVersion=0" in r["query"] for r in lists)


def _service_lists(mesh: Mesh, cluster: str) -> list[dict[str, Any]]:
    return [
        r
        for r in mesh.control.requests(cluster)
        if r["path"] == "/api/v1/services" and "watch=" not in r["query"]
    ]


def _age(mesh: Mesh, cluster: str) -> float:
    row = next(c for c in mesh.table()["clusters"] if c["name"] == cluster)
    return float(row["dataAgeSeconds"])


def test_a_clusters_data_age_stays_small_while_watched_and_grows_while_stale(mesh: Mesh) -> None:
    _, remote, _ = _synced_pair(mesh, "--serve-stale", "30")
    server = mesh.server
    assert server is not None
    metric = f'globaldns_cluster_data_age_seconds{{target_cluster="{remote}"}}'
    time.sleep(1)  # quiet watches: bookmarks (every 0.2 s here) keep proving them current
    assert server.metric(metric) < 1 and _age(mesh, remote) < 1
    mesh.control.down(remote)
    mesh.wait_state(remote, "stale")
    wait_for(lambda: _age(mesh, remote) > 1.5, WAIT, what="the data to age")
    assert server.metric(metric) > 1.5
    mesh.control.up(remote)
    mesh.wait_state(remote, "synced")
    wait_for(lambda: _age(mesh, remote) < 1, WAIT, what="the data current again")
