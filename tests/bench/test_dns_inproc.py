"""Smoke test of bench/dns_inproc.py: a tiny run prints a figure per single-kind workload."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from globaldns.server.dns import compiled_udp

REPO = Path(__file__).resolve().parents[2]
KINDS = ["nxdomain", "nodata", "one", "rotated", "forty", "srv"]

pytestmark = pytest.mark.skipif(compiled_udp() is None, reason="the compiled loop is not built")


def test_prints_cpu_per_query_for_every_kind_as_sent_and_in_random_case() -> None:
    argv = [sys.executable, "bench/dns_inproc.py", "--batch", "4", "--batches", "2"]
    done = subprocess.run(
        [*argv, "--rounds", "1"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[2:]}
    assert list(rows) == [workload for kind in KINDS for workload in (kind, f"{kind}-0x20")]
    assert all(float(cell) > 0 for cells in rows.values() for cell in cells)
