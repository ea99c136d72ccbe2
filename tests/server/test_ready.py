"""Readiness means "can serve": the local cluster's first sync compiled into answers, then
latched while serving (SPEC §5, issue 16); only lameduck takes it back."""

from __future__ import annotations

from dataclasses import replace

import pytest

from globaldns.app import MeshState
from globaldns.config.common import SourceSettings
from globaldns.settings import Settings
from globaldns.sources.kubernetes import KubeSettings
from globaldns.sources.status import State
from globaldns.table.model import Cluster, Instance

SETTINGS = Settings(sources=SourceSettings(local_cluster="a"))


@pytest.fixture
def state() -> MeshState:
    made = MeshState(SETTINGS, None)
    made.table.put_cluster(Cluster("a", "west", ("192.0.2.1",)))
    for n in range(50):
        made.table.put_instance("a", f"ns/s{n}", Instance(f"s{n}.ns", ("10.0.0.1",), 1))
    made.table.commit(budget=0.0)  # compiles one name, leaves the rest for later turns
    made.clusters.set("a", "kubernetes", State.SYNCED)
    return made


def test_not_ready_while_the_first_sync_is_still_being_compiled(state: MeshState) -> None:
    assert state.table.pending > 0
    assert not state.ready()


def test_ready_once_the_first_sync_is_compiled(state: MeshState) -> None:
    state.table.commit()
    assert state.ready()


def test_a_later_compile_backlog_does_not_flap_readiness(state: MeshState) -> None:
    state.table.commit()
    assert state.ready()
    for n in range(50):
        state.table.put_instance("a", f"ns/s{n}", Instance(f"s{n}.ns", ("10.0.0.2",), 1))
    state.table.commit(budget=0.0)
    assert state.table.pending > 0
    assert state.ready()


def test_a_remote_cluster_still_syncing_does_not_keep_it_unready(state: MeshState) -> None:
    state.table.commit()
    state.clusters.set("b", "kubernetes", State.SYNCING)
    assert state.ready()


def test_until_the_local_cluster_synced_once_it_is_unready_whatever_else_synced() -> None:
    made = MeshState(SETTINGS, None)
    made.clusters.set("a", "kubernetes", State.SYNCING)
    made.clusters.set("b", "kubernetes", State.SYNCED)
    assert made.unready() == "waiting for the first sync of: a"


def test_once_ready_it_stays_ready_while_the_local_cluster_is_stale(state: MeshState) -> None:
    state.table.commit()
    assert state.ready()
    state.clusters.set("a", "kubernetes", State.STALE, "connection refused")
    assert state.ready()


def test_with_ready_wait_remote_it_waits_for_remote_first_syncs_up_to_the_bound() -> None:
    made = MeshState(replace(SETTINGS, kube=KubeSettings(ready_wait_remote=60.0)), None)
    made.clusters.set("a", "kubernetes", State.SYNCED)
    made.clusters.set("b", "kubernetes", State.SYNCING)
    assert "first sync of: b" in made.unready()
    made.started -= 60  # the bound has passed
    assert made.ready()


def test_a_draining_server_is_unready_and_says_why(state: MeshState) -> None:
    state.table.commit()
    state.draining = True
    assert not state.ready()
    assert state.unready() == "shutting down (lameduck)"
