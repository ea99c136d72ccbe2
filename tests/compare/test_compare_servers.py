"""`globaldns compare` over real sockets: our globaldns against a second globaldns and against
NSD serving a zone file, each on loopback."""

from __future__ import annotations

import copy
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import GlobalDns
from tests.support import Nsd, exported_zone

MESH: dict[str, Any] = {
    "zone": "global",
    "localCluster": "west",
    "clusters": [
        {"name": "west", "region": "west", "gateways": ["192.0.2.1"]},
        {"name": "east", "region": "east", "gateways": ["192.0.2.2", "2001:db8::2"]},
    ],
    "services": [
        {"name": "foo", "instances": {"west": {"addresses": ["10.0.0.1"], "ready": 1}}},
        {"name": "bar.shop", "instances": {"east": {"addresses": ["10.1.0.1"], "ready": 1}}},
    ],
    "serviceEntries": [
        {"hosts": ["legacy.db.global"], "addresses": ["240.0.0.2", "fd00::2"]},
        # 60 addresses: a UDP reply without EDNS is truncated, TCP carries it whole
        {"hosts": ["many.global"], "addresses": [f"240.0.1.{i}" for i in range(1, 61)]},
        {"hosts": ["none.global"], "addresses": ["240.0.0.9"], "resolution": "NONE"},
    ],
}


def with_entry_address(mesh: dict[str, Any], host: str, address: str) -> dict[str, Any]:
    changed = copy.deepcopy(mesh)
    for entry in changed["serviceEntries"]:
        if entry["hosts"] == [host]:
            entry["addresses"] = [address]
            entry.pop("resolution", None)
    return changed


@pytest.fixture(scope="module")
def ours() -> Iterator[GlobalDns]:
    server = GlobalDns(MESH).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def twin() -> Iterator[GlobalDns]:
    server = GlobalDns(MESH).start()
    yield server
    server.stop()


def compare(ours: GlobalDns, against: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        *(sys.executable, "-m", "globaldns", "compare", "--against", against),
        *("--ours", f"127.0.0.1:{ours.port}", "--admin", ours.admin_address, *args),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def compared(ours: GlobalDns, against: str, *args: str) -> tuple[int, dict[str, Any]]:
    done = compare(ours, against, "--format", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def first_row(printed: str, name: str) -> str:
    """The first row of the difference table about `name`."""
    return next(line for line in printed.splitlines() if line.startswith(name))


def zone_file(mesh: dict[str, Any], where: Path) -> str:
    """`globaldns table --format zone` of a mesh: what NSD serves."""
    path = where / "mesh.yaml"
    path.write_text(yaml.safe_dump(mesh))
    return exported_zone(path)


def test_a_second_globaldns_serving_the_same_mesh_compares_equal(
    ours: GlobalDns, twin: GlobalDns
) -> None:
    done = compare(ours, f"127.0.0.1:{twin.port}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 different" in done.stdout
    assert (
        "theirs: 127.0.0.1:" in done.stdout and "globaldns zone=global cluster=west" in done.stdout
    )


def test_every_held_name_and_skipped_host_is_asked_in_a_and_aaaa(
    ours: GlobalDns, twin: GlobalDns
) -> None:
    _, document = compared(ours, f"127.0.0.1:{twin.port}")
    # foo, bar.shop, legacy.db, many (held) and none (skipped): 5 names, 2 types each
    assert (document["questions"], document["ours"]["names"], document["ours"]["skipped"]) == (
        10,
        4,
        1,
    )


def test_pinned_names_are_asked_only_with_pinned(ours: GlobalDns, twin: GlobalDns) -> None:
    status, document = compared(ours, f"127.0.0.1:{twin.port}", "--pinned")
    assert status == 0
    # foo-west, foo-west (region), bar-east twice... pinned to cluster and region each
    assert document["ours"]["names"] > 4


def test_questions_over_tcp_compare_equal(ours: GlobalDns, twin: GlobalDns) -> None:
    status, document = compared(ours, f"127.0.0.1:{twin.port}", "--tcp")
    assert (status, document["unexplained"]) == (0, 0)


@pytest.fixture(scope="module")
def planted() -> Iterator[GlobalDns]:
    server = GlobalDns(with_entry_address(MESH, "legacy.db.global", "240.0.0.3")).start()
    yield server
    server.stop()


def test_a_planted_difference_fails_and_is_named(ours: GlobalDns, planted: GlobalDns) -> None:
    done = compare(ours, f"127.0.0.1:{planted.port}")
    assert done.returncode == 1, done.stdout + done.stderr
    row = first_row(done.stdout, "legacy.db.global.")
    assert row.split()[:4] == ["legacy.db.global.", "A", "240.0.0.3", "240.0.0.2"]
    assert "UNEXPLAINED" in row


def test_a_planted_difference_is_in_the_json(ours: GlobalDns, planted: GlobalDns) -> None:
    status, document = compared(ours, f"127.0.0.1:{planted.port}")
    assert status == 1 and document["unexplained"] == 2  # A differs, AAAA: NODATA theirs
    kinds = {(d["name"], d["type"], d["side"], d["rule"]) for d in document["differences"]}
    assert ("legacy.db.global.", "A", "both", "unexplained") in kinds
    assert ("legacy.db.global.", "AAAA", "ours-only", "unexplained") in kinds


@pytest.fixture(scope="module")
def answers_none() -> Iterator[GlobalDns]:
    """Theirs answers the entry ours skips for its resolution NONE."""
    server = GlobalDns(with_entry_address(MESH, "none.global", "240.0.0.9")).start()
    yield server
    server.stop()


def test_a_skipped_entry_theirs_answers_is_explained_and_passes(
    ours: GlobalDns, answers_none: GlobalDns
) -> None:
    done = compare(ours, f"127.0.0.1:{answers_none.port}")
    assert done.returncode == 0, done.stdout + done.stderr
    row = first_row(done.stdout, "none.global.")
    assert row.split()[:4] == ["none.global.", "A", "240.0.0.9", "NXDOMAIN"]
    assert "not served: ServiceEntry serviceEntries[2] from mesh has resolution NONE" in row


def test_a_skipped_entry_is_explained_in_the_json(ours: GlobalDns, answers_none: GlobalDns) -> None:
    status, document = compared(ours, f"127.0.0.1:{answers_none.port}")
    assert (status, document["unexplained"]) == (0, 0)
    found = {
        (d["type"], d["theirs"], d["ours"], d["side"], d["rule"]) for d in document["differences"]
    }
    assert found == {
        ("A", "240.0.0.9", "NXDOMAIN", "theirs-only", "skipped"),
        ("AAAA", "NODATA", "NXDOMAIN", "neither", "skipped"),
    }


@pytest.fixture(scope="module")
def nsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nsd]:
    server = Nsd("global", zone_file(MESH, tmp_path_factory.mktemp("zone")))
    yield server
    server.stop()


def test_nsd_serving_the_exported_zone_compares_equal(ours: GlobalDns, nsd: Nsd) -> None:
    done = compare(ours, f"127.0.0.1:{nsd.port}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 different" in done.stdout
    assert "no globaldns (istiocoredns's rules apply)" in done.stdout


@pytest.fixture(scope="module")
def entries_only() -> Iterator[Nsd]:
    """NSD serving what istiocoredns answered: the ServiceEntry hosts alone."""
    zone = "\n".join(
        [
            "$ORIGIN global.",
            "$TTL 5",
            "@ IN SOA ns.global. hostmaster.global. 1 3600 600 86400 5",
            "@ IN NS ns.global.",
            "legacy.db IN A 240.0.0.2",
            "legacy.db IN AAAA fd00::2",
            *(f"many IN A 240.0.1.{i}" for i in range(1, 61)),
        ]
    )
    server = Nsd("global", zone + "\n")
    yield server
    server.stop()


def test_names_derived_from_services_are_explained_against_istiocoredns(
    ours: GlobalDns, entries_only: Nsd
) -> None:
    status, document = compared(ours, f"127.0.0.1:{entries_only.port}")
    assert status == 0, document
    rules = {(d["name"], d["type"]): d["rule"] for d in document["differences"]}
    assert rules[("foo.global.", "A")] == "derived-name"
    assert rules[("bar.shop.global.", "AAAA")] == "derived-name"
    assert ("many.global.", "AAAA") not in rules  # NODATA on both sides


def test_an_unreachable_admin_port_is_exit_2_naming_it(ours: GlobalDns) -> None:
    command = [sys.executable, "-m", "globaldns", "compare", "--against", "127.0.0.1:1"]
    done = subprocess.run(
        [*command, "--admin", "127.0.0.1:1"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "cannot read http://127.0.0.1:1/table" in done.stderr


def test_the_table_head_lists_the_skipped_entry_hosts(ours: GlobalDns) -> None:
    status, body = ours.http("/table")
    assert status == 200
    assert json.loads(body)["skipped"] == [
        {
            "name": "none.global.",
            "reason": "resolution_none",
            "why": "ServiceEntry serviceEntries[2] from mesh has resolution NONE (its sidecar "
            "forwards to the address dialled; istiocoredns named none)",
        }
    ]


def test_max_names_stops_the_listing_and_says_so(ours: GlobalDns, twin: GlobalDns) -> None:
    done = compare(ours, f"127.0.0.1:{twin.port}", "--max-names", "2")
    assert done.returncode == 0, done.stderr
    assert "stopped at --max-names 2: the rest was not compared" in done.stdout


class _Hostile(http.server.BaseHTTPRequestHandler):
    """An admin port answering every request with `body` (written `times` times)."""

    body = b""
    times = 1

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        for _ in range(self.times):
            self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def against_hostile_admin(
    body: bytes, times: int = 1
) -> tuple[str, subprocess.CompletedProcess[str]]:
    handler = type("Handler", (_Hostile,), {"body": body, "times": times})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as hostile:
        threading.Thread(target=hostile.serve_forever, daemon=True).start()
        admin = f"127.0.0.1:{hostile.server_address[1]}"
        command = [sys.executable, "-m", "globaldns", "compare", "--against", "127.0.0.1:1"]
        done = subprocess.run(
            [*command, "--admin", admin], capture_output=True, text=True, timeout=60
        )
        hostile.shutdown()
    return admin, done


def test_an_admin_page_over_the_bound_is_refused() -> None:
    admin, done = against_hostile_admin(b" " * (1 << 20), times=17)
    assert done.returncode == 2
    assert f"http://{admin}/table sent a page over 16777216 bytes; refused" in done.stderr


def test_an_admin_listing_that_never_ends_is_refused() -> None:
    admin, done = against_hostile_admin(b'{"names": [], "continue": "0000000000000000.0"}')
    assert done.returncode == 2
    assert f"http://{admin}/table: a page without names names a next one; refused" in done.stderr


def test_clusters_ours_has_not_synced_are_named() -> None:
    page = {"clusters": [{"name": "east", "state": "syncing"}], "names": []}
    _, done = against_hostile_admin(json.dumps(page).encode())
    assert done.returncode == 0, done.stderr
    assert "ours has clusters not synced, whose names may be missing: east (syncing)" in done.stdout
