"""SPEC §3: a name that cannot be a DNS name (a label over 63 bytes, a name over 255), as a long
Service name pinned to a cluster makes, is never compiled: skipped, logged once with why,
counted by reason and shown by `table NAME`; the zone export never writes it; the
internal-error counter counts bugs only."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from globaldns.dns.wire import Unfit
from globaldns.dns.zone import ZoneConfig
from globaldns.table.model import Cluster, Instance
from globaldns.table.scheme import pinned
from globaldns.table.table import Table
from harness import REPO, GlobalDns, addresses

SERVICE = "s" * 63
CLUSTER = "c" * 63
REGION = "r" * 63
MESH = {
    "localCluster": CLUSTER,
    "clusters": [
        {"name": CLUSTER, "region": REGION, "gateways": ["192.0.2.1"]},
        {"name": "b", "region": "east", "gateways": ["192.0.2.2"]},
    ],
    "services": [
        {
            "name": SERVICE,
            "ports": [{"name": "http", "port": 80}],
            "instances": {
                CLUSTER: {"addresses": ["10.0.0.1"], "ready": 1},
                "b": {"addresses": ["10.0.0.2"], "ready": 1},
            },
        },
        {
            "name": "short",
            "instances": {CLUSTER: {"addresses": ["10.0.0.3"]}, "b": {"addresses": ["10.0.0.4"]}},
        },
    ],
}
# Every pin to the long cluster or region, and every pin of the long service: 6 names.
UNFIT = [pinned(service, scope) for service in (SERVICE, "short") for scope in (CLUSTER, REGION)]
UNFIT += [pinned(SERVICE, scope) for scope in ("b", "east")]
PINNED = f"{pinned(SERVICE, CLUSTER)}.global"


def metric_line(reason: Unfit) -> str:
    return f'globaldns_names_skipped_total{{reason="{reason.label}"}}'


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "globaldns", *args], capture_output=True, text=True, cwd=REPO
    )


@pytest.fixture(scope="module")
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(MESH).start()
    yield srv
    srv.stop()


def test_long_names_serve_what_fits(server: GlobalDns) -> None:
    assert addresses(server.ask(f"{SERVICE}.global")) == ["10.0.0.1"]
    assert addresses(server.ask("short-b.global")) == ["192.0.2.2"]  # this pin fits


def test_unfit_names_are_counted_by_reason_and_no_internal_error(server: GlobalDns) -> None:
    assert server.metric("globaldns_internal_errors_total") == 0
    assert server.metric(metric_line(Unfit.LABEL_TOO_LONG)) == len(UNFIT)
    assert server.metric(metric_line(Unfit.NAME_TOO_LONG)) == 0


def test_each_unfit_name_is_logged_once_with_why(server: GlobalDns) -> None:
    server.reload({**MESH, "ttl": 6})  # a reload claims the names again
    lines = [line for line in server.logs().splitlines() if "not served" in line]
    assert len(lines) == len(UNFIT), lines
    assert any(SERVICE in line and CLUSTER in line and "63" in line for line in lines)
    assert "Traceback" not in server.logs()


def test_table_name_explains_an_unfit_name(server: GlobalDns) -> None:
    shown = run("table", PINNED, "--mesh", str(server.mesh_path))
    assert shown.returncode == 0, shown.stderr
    assert "not served" in shown.stdout and "63" in shown.stdout


def test_the_zone_export_never_writes_an_unfit_name_and_nsd_accepts_it(
    server: GlobalDns, tmp_path: Path
) -> None:
    exported = run("table", "--format", "zone", "--mesh", str(server.mesh_path))
    assert exported.returncode == 0, exported.stderr
    assert not any(name in exported.stdout for name in UNFIT)
    (tmp_path / "zone").write_text(exported.stdout)
    checked = subprocess.run(
        ["nsd-checkzone", "global", str(tmp_path / "zone")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_pinned_name_over_255_bytes_is_skipped_as_too_long() -> None:
    host = ".".join(["a"] + ["x" * 60] * 4)  # 248 bytes with the zone: fits
    table = Table(ZoneConfig(), "a")
    table.put_cluster(Cluster("abcdefgh", None, ("192.0.2.1",)))
    table.put_instance("abcdefgh", "ns/a", Instance(host, ("10.0.0.1",), 1))
    table.commit()
    assert table.skipped[Unfit.NAME_TOO_LONG] == 1 and table.internal_errors == 0
    assert table.lookup(pinned(host, "abcdefgh")) is not None  # explained, not served
