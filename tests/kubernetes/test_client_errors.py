"""Making a cluster's API client: a loader failure is unreachability and is retried; anything
else is a bug, logged with its traceback and counted, never taken for an outage (issue 7)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient

from globaldns.dns.zone import ZoneConfig
from globaldns.sources.kubernetes.cluster import ClusterWatch
from globaldns.sources.kubernetes.handoff import Outbox
from globaldns.sources.kubernetes.options import KubeSettings, Selection
from globaldns.sources.status import Registry
from globaldns.table.scheduler import CommitScheduler
from globaldns.table.table import Table

SELECTION = Selection(
    identity_label="identity",
    export_namespaces=frozenset(),
    exclude_namespaces=frozenset(),
    export_selector="",
    gateway_services=(),
    zone="global",
)
SETTINGS = KubeSettings(
    kubeconfig=Path("unused"),
    contexts=(),
    local_cluster=None,
    selection=SELECTION,
    remote_secret_namespace="istio-system",
    secret_selector="",
    serve_stale=300,
    sync_timeout=30,
    resolve_interval=30,
    backoff_max=0.05,
    liveness=20,
)


def failing_once(error: Exception) -> ClusterWatch:
    async def make() -> ApiClient:
        raise error

    async def run() -> ClusterWatch:
        table = Table(ZoneConfig())
        loop = asyncio.get_running_loop()
        outbox = Outbox(table, Registry(), loop, CommitScheduler(table))
        watch = ClusterWatch("c1", make, SETTINGS, SELECTION, outbox, asyncio.Semaphore(1))
        task = asyncio.create_task(watch.run())
        while not watch.failing:
            await asyncio.sleep(0.01)
        task.cancel()
        return watch

    return asyncio.run(run())


def test_a_loader_failure_is_unreachability_not_a_bug() -> None:
    watch = failing_once(OSError("exec plugin not found"))
    assert watch.failing["client"][1] is True
    assert watch.bugs == 0


def test_a_bug_in_making_the_client_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    watch = failing_once(TypeError("unexpected keyword"))
    assert watch.failing["client"][1] is False
    assert watch.bugs == 1
    (record,) = [r for r in caplog.records if r.exc_info and r.exc_info[0] is TypeError]
    assert getattr(record, "cluster", None) == "c1"  # a field of its JSON log line
