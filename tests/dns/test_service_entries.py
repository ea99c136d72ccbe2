"""SPEC §2's ServiceEntry rules (istiocoredns's) as a running server fed by a mesh file answers
them."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import GlobalDns, addresses

BASE: dict = {
    "zone": "global",
    "localCluster": "a",
    "clusters": [{"name": "a", "gateways": ["192.0.2.1"]}],
    "serviceEntries": [{"hosts": ["kept.global"], "addresses": ["240.0.0.1"]}],
}


def mesh_with(*entries: dict) -> dict:
    mesh = copy.deepcopy(BASE)
    mesh["serviceEntries"].extend(entries)
    return mesh


@pytest.fixture(scope="module")
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(BASE).start()
    yield srv
    srv.stop()


def answer(server: GlobalDns, name: str, rdtype: str = "A") -> list[str]:
    return sorted(addresses(server.ask(name, rdtype)))


def test_a_resolution_none_entry_is_not_named(server: GlobalDns) -> None:
    server.reload(
        mesh_with({"hosts": ["none.global"], "addresses": ["240.0.0.2"], "resolution": "NONE"})
    )
    assert answer(server, "none.global") == []
    assert answer(server, "kept.global") == ["240.0.0.1"]


def test_a_resolution_other_than_none_is_named(server: GlobalDns) -> None:
    server.reload(
        mesh_with({"hosts": ["dns.global"], "addresses": ["240.0.0.3"], "resolution": "DNS"})
    )
    assert answer(server, "dns.global") == ["240.0.0.3"]


def test_a_cidr_of_one_address_is_named_by_that_address(server: GlobalDns) -> None:
    one = {"hosts": ["one.global"], "addresses": ["240.0.0.4/32", "fd00::4/128"]}
    server.reload(mesh_with(one))
    assert answer(server, "one.global") == ["240.0.0.4"]
    assert answer(server, "one.global", "AAAA") == ["fd00::4"]


def test_a_cidr_wider_than_one_address_is_not_named(server: GlobalDns) -> None:
    server.reload(
        mesh_with(
            {"hosts": ["wide.global"], "addresses": ["240.0.0.0/24"]},
            {"hosts": ["mixed.global"], "addresses": ["240.0.1.0/24", "240.0.0.5"]},
        )
    )
    assert answer(server, "wide.global") == []
    assert answer(server, "mixed.global") == ["240.0.0.5"]


ADDRESS_LESS = {"hosts": ["bare.global"]}


def test_an_entry_without_addresses_is_not_named_without_a_default_address(
    server: GlobalDns,
) -> None:
    server.reload(mesh_with(ADDRESS_LESS))
    assert answer(server, "bare.global") == []
    assert answer(server, "kept.global") == ["240.0.0.1"]


@pytest.fixture(scope="module")
def defaulted() -> Iterator[GlobalDns]:
    args = ["--default-address", "240.0.0.100", "--default-address", "fd00::100"]
    srv = GlobalDns(mesh_with(ADDRESS_LESS), args=args).start()
    yield srv
    srv.stop()


def test_an_entry_without_addresses_answers_the_default_address(defaulted: GlobalDns) -> None:
    assert answer(defaulted, "bare.global") == ["240.0.0.100"]
    assert answer(defaulted, "bare.global", "AAAA") == ["fd00::100"]


def test_an_entry_with_addresses_ignores_the_default_address(defaulted: GlobalDns) -> None:
    defaulted.reload(
        mesh_with(ADDRESS_LESS, {"hosts": ["wide.global"], "addresses": ["240.0.0.0/24"]})
    )
    assert answer(defaulted, "kept.global") == ["240.0.0.1"]
    assert answer(defaulted, "kept.global", "AAAA") == []
    assert answer(defaulted, "wide.global") == []


def explained(server: GlobalDns, name: str) -> str:
    """What `/table?name=` says of a name (one not in the table is a 404)."""
    status, body = server.http(f"/table?name={name}")
    assert status == 200, body
    (view,) = json.loads(body)["names"]
    return str(view["reason"])


def table_command(*args: str) -> subprocess.CompletedProcess[str]:
    """`globaldns table ARGS`, as a user runs it beside the server."""
    command = [sys.executable, "-m", "globaldns", "table", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"addresses": ["240.0.0.2"], "resolution": "NONE"}, "has resolution NONE"),
        ({"addresses": ["240.0.0.0/24"]}, "wider than one address"),
        ({}, "has no addresses and no --default-address"),
    ],
)
def test_table_name_says_which_entry_was_skipped_and_why(
    server: GlobalDns, entry: dict, why: str
) -> None:
    server.reload(mesh_with({"hosts": ["skip.global"], **entry}))
    assert answer(server, "skip.global") == []
    said = explained(server, "skip.global")
    assert said.startswith("not served: ServiceEntry serviceEntries[1] from mesh ")
    assert why in said


def test_the_table_command_explains_a_skipped_entry(server: GlobalDns) -> None:
    server.reload(mesh_with({"hosts": ["skip.global"], "resolution": "NONE"}))
    shown = table_command("--mesh", str(server.mesh_path), "skip")
    assert shown.returncode == 0, shown.stderr
    assert "not served: ServiceEntry serviceEntries[1] from mesh has resolution NONE" in (
        shown.stdout
    )


def test_a_skipped_entry_named_again_is_no_longer_explained_as_skipped(
    server: GlobalDns,
) -> None:
    server.reload(mesh_with({"hosts": ["skip.global"], "resolution": "NONE"}))
    server.reload(mesh_with({"hosts": ["skip.global"], "addresses": ["240.0.0.8"]}))
    assert answer(server, "skip.global") == ["240.0.0.8"]
    assert explained(server, "skip.global") == "ServiceEntry addresses"


def test_skipped_entries_are_counted_by_reason(server: GlobalDns) -> None:
    server.reload(mesh_with({"hosts": ["counted.global"], "addresses": ["240.1.0.0/16"]}))
    assert answer(server, "counted.global") == []
    assert server.metric('globaldns_names_skipped_total{reason="wide_cidr"}') >= 1


def test_the_config_file_key_default_address_names_an_entry_without_addresses(
    server: GlobalDns, tmp_path: Path
) -> None:
    server.reload(mesh_with(ADDRESS_LESS))
    config = tmp_path / "config.yaml"
    config.write_text("defaultAddress: [240.0.0.100, 'fd00::100']\n")
    shown = table_command("--config", str(config), "--mesh", str(server.mesh_path), "bare")
    assert shown.returncode == 0, shown.stderr
    assert "240.0.0.100" in shown.stdout and "fd00::100" in shown.stdout
