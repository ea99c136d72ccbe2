"""Smoke test of bench/dns_bench.py: a tiny run end to end, so the bench cannot rot unnoticed.

It checks the bench runs and reports, not the figures: one-second runs on a shared CI machine
say nothing about performance.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MISSING = [tool for tool in ("dnsperf", "nsd", "dig", "taskset") if shutil.which(tool) is None]

pytestmark = [
    pytest.mark.skipif(bool(MISSING), reason=f"the bench needs {', '.join(MISSING)} installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("matplotlib") is None,
        reason="the bench draws its chart with matplotlib (the bench extra)",
    ),
    pytest.mark.skipif(
        len(os.sched_getaffinity(0)) < 2, reason="the bench pins servers and dnsperf to 2 cores"
    ),
]


Run = tuple[subprocess.CompletedProcess[str], Path, Path]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One tiny bench; its temp files (and so its servers' command lines) live under `tmp`."""
    out, tmp = tmp_path_factory.mktemp("results"), tmp_path_factory.mktemp("tmp")
    argv = [sys.executable, "bench/dns_bench.py", "--seconds", "1", "--rounds", "1"]
    argv += ["--names", "40", "--flood", "20000", "--out", str(out)]
    env = {**os.environ, "TMPDIR": str(tmp)}
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stdout + done.stderr
    return done, out, tmp


def test_prints_the_ratio_lines_of_both_question_mixes(bench_run: Run) -> None:
    done, _, _ = bench_run
    ratios = [line for line in done.stdout.splitlines() if line.startswith("ratio ")]
    assert [line.split(":")[0] for line in ratios] == [
        f"ratio {label} ({mix})"
        for mix in ("repeated", "random-case")
        for label in (
            "globaldns/nsd max qps",
            "globaldns/nsd CPU per query",
            "pure/nsd max qps",
            "pure/nsd CPU per query",
            *(["globaldns/dnslib max qps"] if mix == "repeated" else []),
        )
    ]


def test_prints_a_median_row_per_server(bench_run: Run) -> None:
    done, _, _ = bench_run
    rows = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    assert {"globaldns", "pure", "nsd", "dnslib"} <= rows


def test_writes_a_png_chart(bench_run: Run) -> None:
    _, out, _ = bench_run
    assert (out / "dns_bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_writes_every_run_to_json(bench_run: Run) -> None:
    _, out, _ = bench_run
    results = json.loads((out / "dns_bench.json").read_text())
    assert sorted((run["mix"], run["server"]) for run in results["runs"]) == [
        ("random-case", "globaldns"),
        ("random-case", "nsd"),
        ("random-case", "pure"),
        ("repeated", "dnslib"),
        ("repeated", "globaldns"),
        ("repeated", "nsd"),
        ("repeated", "pure"),
    ]
    assert all(run["max_qps"] > 0 and run["cpu_us_per_query"] > 0 for run in results["runs"])


def test_flood_run_counts_valid_queries_beside_the_garbage(bench_run: Run) -> None:
    _, out, _ = bench_run
    floods = json.loads((out / "dns_bench.json").read_text())["floods"]
    assert sorted(f["server"] for f in floods) == ["globaldns", "nsd", "pure"]
    assert all(f["garbage_rate"] == 20000 and f["valid_sent"] > 0 for f in floods)


def test_stops_every_server_it_started(bench_run: Run) -> None:
    _, _, tmp = bench_run
    leftovers = subprocess.run(["pgrep", "-af", str(tmp)], capture_output=True, text=True)
    assert leftovers.stdout == ""
