"""SPEC §5: `--log-format json` writes one JSON object per line with time, level, logger,
message and the fields of the event; the start line says what runs where."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness import GlobalDns, wait_for
from harness.meshes import MESH


@pytest.fixture
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(MESH, args=["--log-format", "json"]).start()
    yield srv
    srv.stop()


def records(server: GlobalDns) -> list[dict[str, Any]]:
    """Every line of the log, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in server.logs().splitlines()]


def test_every_line_is_a_json_object_with_time_level_logger_and_message(
    server: GlobalDns,
) -> None:
    server.write_mesh("services: [unclosed\n")  # an error line
    wait_for(lambda: len(records(server)) >= 2, 3, what="the error line")
    for record in records(server):
        assert {"time", "level", "logger", "message"} <= record.keys()
    assert [r["level"] for r in records(server)][-1] == "error"


def test_the_start_line_says_version_zones_sources_local_cluster_and_listen_addresses(
    server: GlobalDns,
) -> None:
    (start,) = [r for r in records(server) if "serving" in r["message"]]
    assert start["version"]
    assert start["sources"] == [f"mesh {server.mesh_path}"]
    assert start["localCluster"] == "a"
    assert start["listen"] == [f"127.0.0.1:{server.port}"]
    assert start["admin"] == f"127.0.0.1:{server.admin_port}"
    assert start["zones"] == ["global.", "clusterset.local."]
    assert "serving global. and clusterset.local. on" in start["message"]


def test_a_reload_line_carries_the_file_and_the_names_that_changed(server: GlobalDns) -> None:
    mesh = copy.deepcopy(MESH)
    mesh["services"][0]["instances"]["a"]["addresses"] = ["10.0.0.8"]
    mesh["services"].append({"name": "new", "instances": {"a": {"addresses": ["10.0.0.9"]}}})
    server.write_mesh(mesh)
    reload = wait_for(
        lambda: [r for r in records(server) if "reloaded" in r["message"]], 3, what="reload"
    )[0]
    assert reload["file"] == str(server.mesh_path)
    assert (reload["added"], reload["changed"], reload["removed"]) == (["new"], ["foo"], [])


def test_an_invalid_edit_is_one_error_record_naming_the_file(server: GlobalDns) -> None:
    server.write_mesh("ttl: -1\n")
    error = wait_for(
        lambda: [r for r in records(server) if r["level"] == "error"], 3, what="the error"
    )
    assert len(error) == 1
    assert error[0]["file"] == str(server.mesh_path) and "ttl" in error[0]["message"]
