"""SPEC §4: the mesh file is re-read when it changes; a bad edit keeps the last good table."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from globaldns.app import MeshState
from globaldns.config.common import SourceSettings
from globaldns.settings import Settings
from globaldns.sources import mesh as mesh_source
from harness import GlobalDns, addresses, wait_for
from harness.meshes import MESH

SETTINGS = Settings(sources=SourceSettings(local_cluster="a", mesh=Path("mesh.yaml")))


@pytest.fixture
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(MESH).start()
    yield srv
    srv.stop()


def with_foo_address(address: str) -> dict:
    mesh = copy.deepcopy(MESH)
    mesh["services"][0]["instances"]["a"]["addresses"] = [address]
    return mesh


def test_valid_edit_is_answered_within_one_second(server: GlobalDns) -> None:
    server.write_mesh(with_foo_address("10.0.0.99"))
    started = time.monotonic()
    wait_for(lambda: addresses(server.ask("foo.global")) == ["10.0.0.99"], 1.0, 0.01, "new answer")
    assert time.monotonic() - started < 1.0


def test_new_service_appears_and_removed_one_disappears(server: GlobalDns) -> None:
    mesh = copy.deepcopy(MESH)
    mesh["services"][0]["name"] = "renamed"
    server.reload(mesh)
    assert addresses(server.ask("renamed.global")) == ["10.0.0.1"]
    assert server.ask("foo.global").rcode() == 3  # NXDOMAIN


def test_invalid_yaml_keeps_the_last_good_answers(server: GlobalDns) -> None:
    server.write_mesh("services: [unclosed\n")
    wait_for(lambda: server.metric("globaldns_table_reload_errors_total") >= 1, 3, what="error")
    assert addresses(server.ask("foo.global")) == ["10.0.0.1"]


def test_invalid_field_keeps_the_last_good_answers(server: GlobalDns) -> None:
    server.write_mesh(with_foo_address("10.0.0.300"))
    wait_for(lambda: server.metric("globaldns_table_reload_errors_total") >= 1, 3, what="error")
    assert addresses(server.ask("foo.global")) == ["10.0.0.1"]


def test_invalid_edit_logs_one_clear_error_naming_file_and_field(server: GlobalDns) -> None:
    server.write_mesh(with_foo_address("10.0.0.300"))
    wait_for(lambda: server.metric("globaldns_table_reload_errors_total") >= 1, 3, what="error")
    time.sleep(0.5)  # further polls of the unchanged file must not log again
    errors = [line for line in server.logs().splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert "services[0].instances.a.addresses[0]" in errors[0]
    assert "'10.0.0.300' is not an IPv4 or IPv6 address" in errors[0]
    assert str(server.mesh_path) in errors[0]


def test_fixing_the_file_after_a_bad_edit_applies_the_fix(server: GlobalDns) -> None:
    server.write_mesh("not: [valid\n")
    wait_for(lambda: server.metric("globaldns_table_reload_errors_total") >= 1, 3, what="error")
    server.reload(with_foo_address("10.0.0.42"))
    assert addresses(server.ask("foo.global")) == ["10.0.0.42"]


def test_deleted_mesh_file_keeps_the_last_good_answers(server: GlobalDns) -> None:
    server.mesh_path.unlink()
    wait_for(lambda: server.metric("globaldns_table_reload_errors_total") >= 1, 3, what="error")
    assert addresses(server.ask("foo.global")) == ["10.0.0.1"]


def test_a_removed_key_means_its_default(server: GlobalDns) -> None:
    assert server.ask("_http._tcp.foo.global", "SRV").rcode() == 0
    mesh = copy.deepcopy(MESH)
    del mesh["services"][0]["ports"]
    server.reload(mesh)
    wait_for(lambda: server.ask("_http._tcp.foo.global", "SRV").rcode() == 3, 3, what="no SRV")


def test_a_start_only_edit_is_reported_by_name_and_the_other_edits_apply(
    server: GlobalDns,
) -> None:
    mesh = with_foo_address("10.0.0.77")
    mesh["ttl"] = 60
    server.write_mesh(mesh)
    wait_for(lambda: addresses(server.ask("foo.global")) == ["10.0.0.77"], 3, what="the edit")
    assert server.ask("foo.global").answer[0].ttl == 5
    warning = wait_for(
        lambda: [line for line in server.logs().splitlines() if "start only" in line],
        3,
        what="the start-only warning",
    )
    assert "ttl (unset) -> 60" in warning[0]


def test_the_reload_line_says_which_names_were_added_removed_and_changed(
    server: GlobalDns,
) -> None:
    mesh = with_foo_address("10.0.0.5")
    mesh["services"][1]["name"] = "new.bar"  # httpbin.bar removed, new.bar added
    server.write_mesh(mesh)
    line = wait_for(
        lambda: [line for line in server.logs().splitlines() if "reloaded" in line],
        3,
        what="the reload line",
    )[0]
    assert "added 1: new.bar" in line
    assert "removed 1: httpbin.bar" in line
    assert "changed 1: foo" in line


def test_sighup_rereads_a_mesh_file_whose_edit_polling_cannot_see(server: GlobalDns) -> None:
    text = server.mesh_path.read_text()
    before = os.stat(server.mesh_path)
    with server.mesh_path.open("r+") as file:  # same inode, size and mtime: polling sees nothing
        file.write(text.replace("10.0.0.1", "10.0.0.9"))
    os.utime(server.mesh_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    time.sleep(0.5)
    assert addresses(server.ask("foo.global")) == ["10.0.0.1"]
    assert server.process is not None
    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: addresses(server.ask("foo.global")) == ["10.0.0.9"], 3, what="the re-read")


def many_services(count: int, cluster: str) -> dict:
    return {
        "localCluster": "a",
        "clusters": [{"name": "a"}, {"name": "b", "gateways": ["192.0.2.2"]}],
        "services": [
            {"name": f"s{n}", "instances": {cluster: {"addresses": [f"10.0.{n // 250}.{n % 250}"]}}}
            for n in range(count)
        ],
    }


def test_a_gradual_reload_never_blanks_a_service_that_moves_between_clusters() -> None:
    before = mesh_source.parse(many_services(300, "a"), "before")
    after = mesh_source.parse(many_services(300, "b"), "after")
    state = MeshState(SETTINGS, before)
    global_names: list[int] = []  # per turn: how many services answer their global name

    async def reload() -> None:
        task = asyncio.ensure_future(state.on_mesh_change(mesh_source.diff(after, before)))
        while not task.done():
            global_names.append(sum("-" not in view.name for view in state.table.views()))
            await asyncio.sleep(0)
        await task

    asyncio.run(reload())
    assert len(global_names) > 2  # it took several turns
    assert set(global_names) == {300}
    assert {view.tier.label for view in state.table.views()} == {"remote"}


def test_a_successful_reload_sets_the_last_reload_success_time() -> None:
    mesh = mesh_source.parse(MESH, "mesh")
    state = MeshState(SETTINGS, mesh)
    state.last_reload_success = 0
    asyncio.run(state.on_mesh_change(mesh_source.diff(mesh, mesh)))
    assert abs(state.stats()["last_reload_success"] - time.time()) < 5
