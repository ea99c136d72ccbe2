"""SPEC §5: the whole `/table` comes in pages, each naming the next with a `continue` token,
as the Kubernetes API pages lists; followed to the end they hold what `globaldns table
--format json` prints."""

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


def read(server: GlobalDns, path: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    status, body = server.http(path)
    return status, json.loads(body)


def pages(server: GlobalDns, limit: int) -> list[dict]:  # type: ignore[type-arg]
    """Every page of one listing, following `continue` until the last."""
    status, page = read(server, f"/table?limit={limit}")
    assert status == 200
    got = [page]
    while "continue" in page:
        status, page = read(server, f"/table?limit={limit}&continue={page['continue']}")
        assert status == 200
        got.append(page)
    return got


def test_pages_followed_to_the_end_hold_what_the_table_command_prints(server: GlobalDns) -> None:
    listing = pages(server, limit=2)
    printed = json.loads(run("table", "--format", "json", "--mesh", str(server.mesh_path)).stdout)
    merged = {
        "server": listing[0]["server"],
        "clusters": listing[0]["clusters"],
        "gateways": listing[0]["gateways"],
        "skipped": listing[0]["skipped"],
        "names": [entry for page in listing for entry in page["names"]],
    }
    for cluster in merged["clusters"] + printed["clusters"]:
        del cluster["since"]  # when each process marked it synced
    assert len(listing) > 2 and merged == printed


def test_each_page_holds_at_most_limit_names_and_only_the_last_has_no_token(
    server: GlobalDns,
) -> None:
    listing = pages(server, limit=3)
    assert all(len(page["names"]) <= 3 for page in listing)
    assert ["continue" in page for page in listing] == [True] * (len(listing) - 1) + [False]


def test_only_the_first_page_carries_clusters_and_gateways(server: GlobalDns) -> None:
    first, *rest = pages(server, limit=2)
    assert {"clusters", "gateways", "names"} <= first.keys()
    assert all(page.keys() <= {"names", "continue"} for page in rest)


def test_a_malformed_continue_token_is_400(server: GlobalDns) -> None:
    status, body = read(server, "/table?continue=../../etc/passwd")
    assert status == 400 and "continue token" in body["error"]


def test_a_token_the_server_no_longer_holds_is_410_saying_start_again(server: GlobalDns) -> None:
    status, body = read(server, "/table?continue=0123456789abcdef.2")
    assert status == 410 and "start again" in body["error"]


@pytest.mark.parametrize("limit", ["0", "501", "-1", "x", "%C2%B2"])
def test_a_limit_outside_1_to_500_is_400(server: GlobalDns, limit: str) -> None:
    status, body = read(server, f"/table?limit={limit}")
    assert status == 400 and "limit" in body["error"]


def test_a_name_query_takes_no_continue_token(server: GlobalDns) -> None:
    status, body = read(server, "/table?name=foo.global&continue=0123456789abcdef.2")
    assert status == 400 and "?name=" in body["error"]
