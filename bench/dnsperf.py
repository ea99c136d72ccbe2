"""dnsperf runs and what they report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dns_servers import BenchError


@dataclass
class Dnsperf:
    """What one dnsperf run reports (latencies in ms; per-query only with verbose)."""

    qps: float
    completed: int
    lost: int
    avg_ms: float
    runtime: float
    rcodes: dict[str, int]
    response_bytes: int
    latencies_ms: list[float] = field(default_factory=list, repr=False)


def run_dnsperf(
    port: int,
    queries: Path,
    seconds: float,
    core: int,
    rate: int | None = None,
    in_flight: int = 100,
    buffer_kib: int | None = None,
) -> Dnsperf:
    """dnsperf for `seconds` (100 in flight); with a rate, per-query latencies too (-v).

    Queries carry EDNS (-e), as resolvers' do, so forty-address answers fit in UDP.
    """
    argv = ["taskset", "-c", str(core), "dnsperf", "-e", "-s", "127.0.0.1", "-p", str(port)]
    argv += ["-d", str(queries), "-l", str(seconds), "-t", "2", "-q", str(in_flight)]
    if buffer_kib is not None:
        argv += ["-b", str(buffer_kib)]
    if rate is not None:
        argv += ["-Q", str(rate), "-v"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"dnsperf failed ({done.returncode}): {done.stderr}{done.stdout[-2000:]}")
    return parse_dnsperf(done.stdout)


def parse_dnsperf(out: str) -> Dnsperf:
    def number(pattern: str) -> float:
        found = re.search(pattern, out)
        if found is None:
            raise BenchError(f"dnsperf printed nothing like {pattern!r}:\n{out[-2000:]}")
        return float(found.group(1))

    codes = re.search(r"Response codes:\s+(.*)", out)
    rcodes = {
        m[0]: int(m[1]) for m in re.findall(r"(\w+) (\d+) \(", codes.group(1) if codes else "")
    }
    latencies = [
        float(parts[-1]) * 1000
        for parts in (line.split() for line in out.splitlines() if line.startswith("> "))
        if parts[1] not in ("T", "I")
    ]
    return Dnsperf(
        qps=number(r"Queries per second:\s+([\d.]+)"),
        completed=int(number(r"Queries completed:\s+(\d+)")),
        lost=int(number(r"Queries lost:\s+(\d+)")),
        avg_ms=number(r"Average Latency \(s\):\s+([\d.]+)") * 1000,
        runtime=number(r"Run time \(s\):\s+([\d.]+)"),
        rcodes=rcodes,
        response_bytes=int(number(r"Average packet size:.*response (\d+)")),
        latencies_ms=latencies,
    )


def check_rcodes(server: str, result: Dnsperf, nxdomain: tuple[float, float]) -> None:
    """Only NOERROR and NXDOMAIN, NXDOMAIN within its share: anything else measures an error."""
    other = {code: n for code, n in result.rcodes.items() if code not in ("NOERROR", "NXDOMAIN")}
    share = result.rcodes.get("NXDOMAIN", 0) / max(1, result.completed)
    if other or not nxdomain[0] <= share <= nxdomain[1]:
        raise BenchError(f"{server}: unexpected response codes {result.rcodes}")
