"""SPEC §4: the mesh file is re-read when it changes; a bad edit keeps the last good table."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import pytest

from tests.dns.test_protocol import MESH
from tests.support import GlobalDns, addresses, wait_for


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
