"""One server under one workload: CPU per query at a fixed rate, max qps, and floods."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dns_servers import PEERS, BenchError, Server
from dns_workloads import Workload
from dnsperf import Dnsperf, check_rcodes, run_dnsperf

from harness import percentile

FLOOD = PEERS / "flood.py"


@dataclass(frozen=True)
class Setup:
    """How every run is made: its length, the fixed rate, the cores, and whether to find max qps."""

    seconds: float
    rate: int
    server_core: int
    client_core: int
    max_qps: bool


@dataclass
class Run:
    """One server's figures for one workload in one round (max qps only where it was run).

    `max_server_cpu_percent` is the server's share of its core during the max qps run: well
    under 100 means dnsperf, not the server, was the limit.
    """

    round: int
    workload: str
    server: str
    rate: int
    rate_qps: float
    cpu_percent: float
    cpu_us_per_query: float
    avg_ms: float
    p99_ms: float
    rate_lost: int
    response_bytes: int
    max_qps: float | None = None
    max_avg_ms: float | None = None
    max_server_cpu_percent: float | None = None


def _nxdomain_share(workload: Workload) -> tuple[float, float]:
    if workload.is_mix:
        return 0.03, 0.07
    return (1.0, 1.0) if workload.kind is Workload.NXDOMAIN else (0.0, 0.0)


def _timed(server: Server, setup: Setup, queries: Path, rate: int | None) -> tuple[Dnsperf, float]:
    """One dnsperf run and the server's CPU seconds over it."""
    before = server.cpu_seconds()
    result = run_dnsperf(server.port, queries, setup.seconds, setup.client_core, rate=rate)
    return result, server.cpu_seconds() - before


def measure(server: Server, queries: Path, workload: Workload, setup: Setup, round_: int) -> Run:
    """Max qps first (mixes only, when asked), then CPU per query at the fixed rate.

    The same fixed rate for every server that reaches it; 70% of its peak for one that cannot.
    """
    share = _nxdomain_share(workload)
    rate = setup.rate
    peak: tuple[Dnsperf, float] | None = None
    if setup.max_qps and workload.is_mix:
        peak = _timed(server, setup, queries, None)
        check_rcodes(server.name, peak[0], share)
        if peak[0].qps < setup.rate:
            rate = max(100, int(peak[0].qps * 0.7) // 100 * 100)
    fixed, cpu = _timed(server, setup, queries, rate)
    check_rcodes(server.name, fixed, share)
    latencies = sorted(fixed.latencies_ms)
    if not latencies:
        raise BenchError(f"{server.name}: no query completed at {rate} qps")
    run = Run(
        round=round_,
        workload=workload.value,
        server=server.name,
        rate=rate,
        rate_qps=fixed.qps,
        cpu_percent=100 * cpu / fixed.runtime,
        cpu_us_per_query=1e6 * cpu / max(1, fixed.completed),
        avg_ms=statistics.fmean(latencies),
        p99_ms=percentile(latencies, 0.99),
        rate_lost=fixed.lost,
        response_bytes=fixed.response_bytes,
    )
    if peak is not None:
        run.max_qps, run.max_avg_ms = peak[0].qps, peak[0].avg_ms
        run.max_server_cpu_percent = 100 * peak[1] / peak[0].runtime
    return run


@dataclass
class FloodRun:
    """Valid queries at a fixed rate beside a steady flood of garbage, for one server."""

    server: str
    garbage_rate: int
    garbage_sent_rate: float
    valid_rate: int
    valid_sent: int
    valid_lost: int
    cpu_percent: float

    @property
    def lost_percent(self) -> float:
        return 100 * self.valid_lost / max(1, self.valid_sent)


def measure_flood(
    server: Server, queries: Path, setup: Setup, garbage_rate: int, valid_rate: int
) -> FloodRun:
    """dnsperf's valid queries while bench/peers/flood.py sends garbage, both on the client core.

    dnsperf counts a query lost when no reply came within its timeout (2 s).
    """
    argv = ["taskset", "-c", str(setup.client_core), sys.executable, str(FLOOD)]
    argv += [str(server.port), str(garbage_rate), str(setup.seconds + 1)]
    before = server.cpu_seconds()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as flood:
        time.sleep(0.5)  # the flood is steady before the first valid query
        # Room for every query of a 2 s timeout in flight, so lost queries do not hold up the
        # steady rate of valid ones (with 100 in flight, 100 losses stall dnsperf), and a 4 MiB
        # socket buffer, so a client starved of its core by the flood sender loses no reply.
        valid = run_dnsperf(
            server.port,
            queries,
            setup.seconds,
            setup.client_core,
            rate=valid_rate,
            in_flight=2 * valid_rate,
            buffer_kib=4096,
        )
        out, _ = flood.communicate(timeout=setup.seconds + 30)
    cpu = server.cpu_seconds() - before
    if flood.returncode != 0:
        raise BenchError(f"the flood sender failed ({flood.returncode}): {out}")
    return FloodRun(
        server=server.name,
        garbage_rate=garbage_rate,
        garbage_sent_rate=float(json.loads(out)["rate"]),
        valid_rate=valid_rate,
        valid_sent=valid.completed + valid.lost,
        valid_lost=valid.lost,
        cpu_percent=100 * cpu / (setup.seconds + 1),
    )
