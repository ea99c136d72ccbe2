"""Smoke test of bench/dns_bench.py: a tiny run end to end, so the bench cannot rot unnoticed.

It checks the bench runs and reports, not the figures: one-second runs on a shared CI machine
say nothing about performance.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVERS = ("globaldns", "pure", "nsd", "nsd-fixed")
KINDS = ["nxdomain", "nodata", "one", "rotated", "forty", "srv", "mix"]
WORKLOADS = [workload for kind in KINDS for workload in (kind, f"{kind}-0x20")]
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
    argv = [sys.executable, "bench/dns_bench.py", "--seconds", "0.2", "--rounds", "1"]
    argv += [
        "--servers",
        "globaldns,pure,nsd,nsd-fixed,dnslib",
        "--flood",
        "20000",
        "--out",
        str(out),
    ]
    env = {**os.environ, "TMPDIR": str(tmp)}
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stdout + done.stderr
    return done, out, tmp


def test_prints_a_cpu_ratio_line_per_answer_kind_and_both_mixes(bench_run: Run) -> None:
    done, _, _ = bench_run
    ratios = [line for line in done.stdout.splitlines() if line.startswith("ratio ")]
    assert [line.split(":")[0] for line in ratios if "CPU per query" in line] == [
        f"ratio {pair} CPU per query ({workload})"
        for workload in WORKLOADS
        for pair in ("globaldns/nsd", "pure/nsd", "globaldns/nsd-fixed")
    ]


def test_prints_the_max_qps_ratios_of_the_mixes_only(bench_run: Run) -> None:
    done, _, _ = bench_run
    ratios = [line for line in done.stdout.splitlines() if line.startswith("ratio ")]
    assert [line.split(":")[0] for line in ratios if "max qps" in line] == [
        "ratio globaldns/nsd max qps (mix)",
        "ratio pure/nsd max qps (mix)",
        "ratio globaldns/dnslib max qps (mix)",
        "ratio globaldns/nsd max qps (mix-0x20)",
        "ratio pure/nsd max qps (mix-0x20)",
    ]


def test_cpu_ratio_lines_say_the_extra_microseconds_over_nsd(bench_run: Run) -> None:
    done, _, _ = bench_run
    cpu = [line for line in done.stdout.splitlines() if "CPU per query" in line]
    assert cpu and all(re.search(r"x \([+-]\d+\.\d\d us per query\)", line) for line in cpu)


def test_prints_the_readme_table_row_per_workload(bench_run: Run) -> None:
    done, _, _ = bench_run
    rows = [line.split("|")[1].strip() for line in done.stdout.splitlines() if line[:2] == "| "]
    assert rows == ["answer kind", *WORKLOADS]


def test_the_readme_table_compares_with_both_nsds(bench_run: Run) -> None:
    done, _, _ = bench_run
    header = next(line for line in done.stdout.splitlines() if line.startswith("| answer kind"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "answer kind",
        "globaldns us/query",
        *("nsd us/query", "ratio", "extra us over nsd"),
        *("nsd-fixed us/query", "ratio", "extra us over nsd-fixed"),
    ]


def test_prints_a_median_row_per_server(bench_run: Run) -> None:
    done, _, _ = bench_run
    rows = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    assert {"globaldns", "pure", "nsd", "nsd-fixed", "dnslib"} <= rows


def test_writes_a_png_chart(bench_run: Run) -> None:
    _, out, _ = bench_run
    assert (out / "dns_bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_writes_every_run_to_json(bench_run: Run) -> None:
    _, out, _ = bench_run
    results = json.loads((out / "dns_bench.json").read_text())
    assert sorted((run["workload"], run["server"]) for run in results["runs"]) == sorted(
        [(workload, server) for workload in WORKLOADS for server in SERVERS] + [("mix", "dnslib")]
    )
    assert all(run["cpu_us_per_query"] > 0 for run in results["runs"])


def test_measures_max_qps_on_the_mixes_only(bench_run: Run) -> None:
    _, out, _ = bench_run
    runs = json.loads((out / "dns_bench.json").read_text())["runs"]
    assert {run["workload"] for run in runs if run["max_qps"]} == {"mix", "mix-0x20"}


def test_flood_run_counts_valid_queries_beside_the_garbage(bench_run: Run) -> None:
    _, out, _ = bench_run
    floods = json.loads((out / "dns_bench.json").read_text())["floods"]
    assert sorted(f["server"] for f in floods) == ["globaldns", "nsd", "nsd-fixed", "pure"]
    assert all(f["garbage_rate"] == 20000 and f["valid_sent"] > 0 for f in floods)


def test_stops_every_server_it_started(bench_run: Run) -> None:
    _, _, tmp = bench_run
    leftovers = subprocess.run(["pgrep", "-af", str(tmp)], capture_output=True, text=True)
    assert leftovers.stdout == ""
