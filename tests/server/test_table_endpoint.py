"""SPEC §5: `/table` and `globaldns table` show the same document, whole or for some names."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from harness import GlobalDns
from harness.meshes import MESH
from tests.cli.test_cli import run


@pytest.fixture(scope="module")
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(MESH).start()
    yield srv
    srv.stop()


def names(document: dict) -> list[str]:  # type: ignore[type-arg]
    return [entry["name"] for entry in document["names"]]


def test_table_json_prints_exactly_what_the_endpoint_serves(server: GlobalDns) -> None:
    status, body = server.http("/table")
    printed = run("table", "--format", "json", "--mesh", str(server.mesh_path))
    assert status == 200 and printed.returncode == 0
    served, shown = json.loads(body), json.loads(printed.stdout)
    for cluster in served["clusters"] + shown["clusters"]:
        del cluster["since"]  # when each process marked it synced
    assert shown == served


def test_table_name_query_shows_just_those_names(server: GlobalDns) -> None:
    status, body = server.http("/table?name=foo.global&name=httpbin.bar.global.")
    assert status == 200
    assert names(json.loads(body)) == ["foo.global.", "httpbin.bar.global."]


def test_table_name_query_for_an_unknown_name_is_404_naming_it(server: GlobalDns) -> None:
    status, body = server.http("/table?name=nope.global")
    assert status == 404
    assert "nope.global." in json.loads(body)["error"]


def test_table_command_with_names_prints_just_those_names(server: GlobalDns) -> None:
    result = run("table", "--mesh", str(server.mesh_path), "foo.global")
    assert result.returncode == 0
    names_part = result.stdout.split("\n\n")[0]
    _, *rows = names_part.splitlines()
    owners = {row.split()[0] for row in rows if not row.startswith(" ")}
    assert owners == {"foo.global.", "_http._tcp.foo.global."}


def test_table_command_json_with_names_matches_the_endpoint(server: GlobalDns) -> None:
    result = run("table", "--mesh", str(server.mesh_path), "--format", "json", "FOO.global")
    assert names(json.loads(result.stdout)) == ["foo.global."]


def test_table_command_with_an_unknown_name_says_so_and_exits_1(server: GlobalDns) -> None:
    result = run("table", "--mesh", str(server.mesh_path), "foo.global", "nope.global")
    assert result.returncode == 1
    assert "not in the table: nope.global." in result.stderr
