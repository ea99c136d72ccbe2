"""Side-by-side DNS serving benchmark: globaldns against NSD and a plain dnslib server.

Each server serves the same generated zone pinned to one core while dnsperf drives it from
the other; runs alternate between servers round by round because other work on the machine
moves absolute figures by 10-20% between runs, so only same-run ratios are comparable.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dnslib import DNSRecord

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from globaldns.server.dns import PURE_PYTHON_ENV, compiled_udp  # noqa: E402
from tests.support import free_port, percentile  # noqa: E402

PEERS = Path(__file__).resolve().parent / "peers"
QUERY_LINES = 10_000
LOCAL_CLUSTER = "uswest2"
CLUSTERS = [
    {"name": "uswest2", "region": "west", "gateways": ["192.168.20.106"]},
    {"name": "uswest1", "region": "west", "gateways": ["192.168.21.4"]},
    {"name": "useast2", "region": "east", "gateways": ["192.168.30.7", "fd00:30::7"]},
    {"name": "euwest1", "region": "eu", "gateways": ["192.168.40.9", "fd00:40::9"]},
]
# globaldns on the compiled UDP loop where it is built, `pure` the same tree forced onto the
# pure-Python loop, `before` another tree (--before) for before/after figures from one run.
SERVERS = ("globaldns", "pure", "before", "nsd", "dnslib")
GLOBALDNS_VARIANTS = ("globaldns", "pure", "before")
# Question mixes: the same questions over and over, and every question in its own letter case
# (DNS 0x20, as resolvers with use-caps-for-id send). dnslib has no memo: one mix is enough.
MIXES = ("repeated", "random-case")
# (label, numerator, denominator, metric, direction, issue 2's target, SPEC section 6's goal)
RATIOS = (
    *(
        ratio
        for variant in GLOBALDNS_VARIANTS
        for ratio in (
            (f"{variant}/nsd max qps", variant, "nsd", "max_qps", ">=", 0.7, 0.8),
            (f"{variant}/nsd CPU per query", variant, "nsd", "cpu_us_per_query", "<=", 1.5, 1.3),
        )
    ),
    ("globaldns/dnslib max qps", "globaldns", "dnslib", "max_qps", ">=", 20.0, 20.0),
)
FLOOD = Path(__file__).resolve().parent / "peers" / "flood.py"


class BenchError(RuntimeError):
    """The bench cannot produce trustworthy numbers (a server failed or answered wrong)."""


# --- workload -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """The generated mesh and the queries against it, with what a correct server answers."""

    mesh: dict[str, Any]
    a_hits: list[str]
    nodata: list[str]
    nxdomain: list[str]
    check_name: str
    check_addresses: frozenset[str]


def build_workload(names: int) -> Workload:
    """`names` services in four tiers (local, remote, local-unready, nobody ready).

    Local-tier answers are IPv4 ClusterIPs only, so those names give AAAA NODATA; remote
    answers carry the gateways of two regions, some with IPv6.
    """
    services: list[dict[str, Any]] = []
    a_hits: list[str] = []
    nodata: list[str] = []
    for i in range(names):
        host = f"app-{i:04d}" if i % 4 == 0 else f"svc-{i:04d}.ns-{i % 20:02d}"
        ip = f"10.{100 + i // 65536}.{i // 256 % 256}.{i % 256}"
        kind = i % 10
        if kind <= 5:  # local tier
            instances = {
                LOCAL_CLUSTER: {"addresses": [ip], "ready": 2},
                "useast2": {"addresses": ["10.96.0.1"], "ready": 1},
            }
        elif kind <= 7:  # remote only: east then eu gateways
            instances = {
                "useast2": {"addresses": [ip], "ready": 1},
                "euwest1": {"addresses": [ip], "ready": 3},
            }
        elif kind == 8:  # local unready: west gateway first, then east
            instances = {
                LOCAL_CLUSTER: {"addresses": [ip], "ready": 0},
                "uswest1": {"addresses": [ip], "ready": 1},
                "useast2": {"addresses": [ip], "ready": 1},
            }
        else:  # nobody ready: fail open to the local tier
            instances = {
                LOCAL_CLUSTER: {"addresses": [ip], "ready": 0},
                "euwest1": {"addresses": [ip], "ready": 0},
            }
        services.append(
            {"name": host, "ports": [{"name": "http", "port": 80}], "instances": instances}
        )
        a_hits.append(f"{host}.global")
        if kind <= 5 or kind == 9:
            nodata.append(f"{host}.global")
    entries = [
        {"hosts": [f"legacy-{j}.db.global"], "addresses": [f"240.0.{j // 256}.{j % 256}"]}
        for j in range(max(1, names // 100))
    ]
    a_hits += [entry["hosts"][0] for entry in entries]
    mesh = {
        "zone": "global",
        "ttl": 5,
        "localCluster": LOCAL_CLUSTER,
        "clusters": CLUSTERS,
        "services": services,
        "serviceEntries": entries,
    }
    nxdomain = [
        f"missing-{k}.global" if k % 2 else f"gone-{k}.ns-{k % 20:02d}.global"
        for k in range(max(10, names // 10))
    ]
    first = services[1]
    return Workload(
        mesh=mesh,
        a_hits=a_hits,
        nodata=nodata,
        nxdomain=nxdomain,
        check_name=f"{first['name']}.global",
        check_addresses=frozenset(first["instances"][LOCAL_CLUSTER]["addresses"]),
    )


def query_lines(workload: Workload, seed: int = 1, random_case: bool = False) -> list[str]:
    """The BENCH-NOTES mix, exactly: 90% A hits, 5% AAAA NODATA, 5% NXDOMAIN, shuffled.

    With `random_case`, every line spells its name in its own random letter case.
    """
    rng = random.Random(seed)
    lines: list[str] = []
    for i in range(QUERY_LINES):
        if i % 20 == 0:
            lines.append(f"{workload.nodata[i // 20 % len(workload.nodata)]} AAAA")
        elif i % 20 == 1:
            lines.append(f"{workload.nxdomain[i // 20 % len(workload.nxdomain)]} A")
        else:
            lines.append(f"{workload.a_hits[i % len(workload.a_hits)]} A")
    rng.shuffle(lines)
    if random_case:
        lines = [_random_case(rng, name) + " " + rtype for name, rtype in map(str.split, lines)]
    return lines


def _random_case(rng: random.Random, name: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def nsd_config(workdir: Path, zone_file: Path, port: int) -> str:
    """NSD as BENCH-NOTES says: one server process, no RRL, minimal responses, all state here."""
    return f"""server:
    server-count: 1
    ip-address: 127.0.0.1@{port}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{workdir}"
    pidfile: "{workdir}/nsd.pid"
    zonelistfile: "{workdir}/nsd.zonelist"
    xfrdfile: "{workdir}/nsd.xfrd.state"
    xfrdir: "{workdir}"
    database: ""
    logfile: "{workdir}/nsd.log"
    verbosity: 0
    rrl-ratelimit: 0
    minimal-responses: yes
remote-control:
    control-enable: no
zone:
    name: global
    zonefile: "{zone_file}"
"""


# --- servers ------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    log: Path
    cwd: Path = REPO
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def cpu_seconds(self) -> float:
        """utime+stime of the process and its descendants (NSD serves from a child)."""
        assert self.process is not None
        tick = os.sysconf("SC_CLK_TCK")
        stats = _proc_stats()
        tree, frontier = {self.process.pid}, [self.process.pid]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, (ppid, _) in stats.items() if ppid == parent]
            tree.update(children)
            frontier.extend(children)
        return sum(stats[pid][1] for pid in tree if pid in stats) / tick


def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, utime+stime in ticks) for every live process."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return stats


@contextmanager
def running(server: Server, core: int, timeout: float = 20.0) -> Iterator[Server]:
    """Start the server pinned to `core`, wait until it answers, and always stop it."""
    with server.log.open("wb") as log:
        server.process = subprocess.Popen(
            ["taskset", "-c", str(core), *server.argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=server.cwd,
            env={**os.environ, **server.env},
            start_new_session=True,
        )
    try:
        _wait_answering(server, timeout)
        yield server
    finally:
        _stop(server.process)


def _wait_answering(server: Server, timeout: float) -> None:
    probe = DNSRecord.question("global.", "SOA").pack()
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            assert server.process is not None
            if server.process.poll() is not None:
                raise BenchError(f"{server.name} exited at start:\n{_tail(server.log)}")
            sock.sendto(probe, ("127.0.0.1", server.port))
            try:
                sock.recv(4096)
                return
            except OSError:
                time.sleep(0.05)
    raise BenchError(f"{server.name} did not answer within {timeout:.0f} s:\n{_tail(server.log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- checks and measurements -----------------------------------------------------------------


def check_answers(server: Server, workload: Workload) -> None:
    """One dig per server: an A hit, an AAAA NODATA and an NXDOMAIN, all authoritative."""
    name, missing = workload.check_name, workload.nxdomain[0]
    argv = ["dig", "@127.0.0.1", "-p", str(server.port)]
    argv += ["+norec", "+tries=1", "+time=2", "+noall", "+comments", "+answer"]
    argv += [name, "A", name, "AAAA", missing, "A"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout
    expected = [
        ("NOERROR", True, workload.check_addresses),
        ("NOERROR", True, frozenset()),
        ("NXDOMAIN", True, frozenset()),
    ]
    replies = dig_replies(out)
    if replies != expected:
        raise BenchError(f"{server.name} answers wrong: want {expected}, got {replies}\n{out}")


def dig_replies(out: str) -> list[tuple[str, bool, frozenset[str]]]:
    """(rcode, AA flag, answer rdata) of each reply in `dig +noall +comments +answer` output."""
    replies: list[tuple[str, bool, set[str]]] = []
    for line in out.splitlines():
        status = re.search(r"status: (\w+)", line)
        flags = re.match(r";; flags: ([\w ]*);", line)
        if status:
            replies.append((status.group(1), False, set()))
        elif flags and replies:
            replies[-1] = (replies[-1][0], "aa" in flags.group(1).split(), replies[-1][2])
        elif line and not line.startswith(";") and replies:
            replies[-1][2].add(line.split()[-1])
    return [(rcode, aa, frozenset(answers)) for rcode, aa, answers in replies]


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
    """dnsperf for `seconds` (100 in flight); with a rate, per-query latencies too (-v)."""
    argv = ["taskset", "-c", str(core), "dnsperf", "-s", "127.0.0.1", "-p", str(port)]
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


def check_mix(server: str, result: Dnsperf) -> None:
    """Every reply must be a hit, NODATA or NXDOMAIN at ~5%: anything else measures an error."""
    other = {code: n for code, n in result.rcodes.items() if code not in ("NOERROR", "NXDOMAIN")}
    share = result.rcodes.get("NXDOMAIN", 0) / max(1, result.completed)
    if other or not 0.03 <= share <= 0.07:
        raise BenchError(f"{server}: unexpected response codes {result.rcodes}")


@dataclass
class Run:
    """One server's figures for one question mix in one round."""

    round: int
    mix: str
    server: str
    max_qps: float
    max_avg_ms: float
    max_lost: int
    response_bytes: int
    rate: int
    rate_qps: float
    cpu_percent: float
    cpu_us_per_query: float
    avg_ms: float
    p99_ms: float
    rate_lost: int


def measure(server: Server, queries: Path, args: argparse.Namespace, round_: int, mix: str) -> Run:
    peak = run_dnsperf(server.port, queries, args.seconds, args.client_core)
    check_mix(server.name, peak)
    # The same fixed rate for every server that reaches it; 70% of its peak for one that cannot.
    rate = args.rate if peak.qps >= args.rate else max(100, int(peak.qps * 0.7) // 100 * 100)
    before = server.cpu_seconds()
    fixed = run_dnsperf(server.port, queries, args.seconds, args.client_core, rate=rate)
    cpu = server.cpu_seconds() - before
    check_mix(server.name, fixed)
    latencies = sorted(fixed.latencies_ms)
    if not latencies:
        raise BenchError(f"{server.name}: no query completed at {rate} qps")
    return Run(
        round=round_,
        mix=mix,
        server=server.name,
        max_qps=peak.qps,
        max_avg_ms=peak.avg_ms,
        max_lost=peak.lost,
        response_bytes=peak.response_bytes,
        rate=rate,
        rate_qps=fixed.qps,
        cpu_percent=100 * cpu / fixed.runtime,
        cpu_us_per_query=1e6 * cpu / max(1, fixed.completed),
        avg_ms=statistics.fmean(latencies),
        p99_ms=percentile(latencies, 0.99),
        rate_lost=fixed.lost,
    )


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
    server: Server, queries: Path, args: argparse.Namespace, garbage_rate: int
) -> FloodRun:
    """dnsperf's valid queries while bench/peers/flood.py sends garbage, both on the client core.

    dnsperf counts a query lost when no reply came within its timeout (2 s).
    """
    argv = ["taskset", "-c", str(args.client_core), sys.executable, str(FLOOD)]
    argv += [str(server.port), str(garbage_rate), str(args.seconds + 1)]
    before = server.cpu_seconds()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as flood:
        time.sleep(0.5)  # the flood is steady before the first valid query
        # Room for every query of a 2 s timeout in flight, so lost queries do not hold up the
        # steady rate of valid ones (with 100 in flight, 100 losses stall dnsperf), and a 4 MiB
        # socket buffer, so a client starved of its core by the flood sender loses no reply.
        valid = run_dnsperf(
            server.port,
            queries,
            args.seconds,
            args.client_core,
            rate=args.flood_valid_rate,
            in_flight=2 * args.flood_valid_rate,
            buffer_kib=4096,
        )
        out, _ = flood.communicate(timeout=args.seconds + 30)
    cpu = server.cpu_seconds() - before
    if flood.returncode != 0:
        raise BenchError(f"the flood sender failed ({flood.returncode}): {out}")
    return FloodRun(
        server=server.name,
        garbage_rate=garbage_rate,
        garbage_sent_rate=float(json.loads(out)["rate"]),
        valid_rate=args.flood_valid_rate,
        valid_sent=valid.completed + valid.lost,
        valid_lost=valid.lost,
        cpu_percent=100 * cpu / (args.seconds + 1),
    )


# --- report -------------------------------------------------------------------------------

COLUMNS = (
    ("max_qps", "max qps", "{:,.0f}"),
    ("max_avg_ms", "avg ms @max", "{:.3f}"),
    ("rate", "fixed rate", "{:,.0f}"),
    ("cpu_percent", "CPU % of core", "{:.1f}"),
    ("cpu_us_per_query", "CPU us/query", "{:.2f}"),
    ("avg_ms", "avg ms @rate", "{:.3f}"),
    ("p99_ms", "p99 ms @rate", "{:.3f}"),
)
Key = tuple[str, str]  # (mix, server)


def medians(runs: list[Run]) -> dict[Key, dict[str, float]]:
    keys = sorted({(r.mix, r.server) for r in runs}, key=_order)
    return {
        (mix, server): {
            key: statistics.median(
                getattr(r, key) for r in runs if r.server == server and r.mix == mix
            )
            for key, _, _ in COLUMNS
        }
        for mix, server in keys
    }


def _order(key: Key) -> tuple[int, int]:
    return MIXES.index(key[0]), SERVERS.index(key[1])


def meets(value: float, direction: str, bound: float) -> bool:
    return value >= bound if direction == ">=" else value <= bound


def ratios(runs: list[Run]) -> list[dict[str, Any]]:
    """Median over rounds of each round's ratio: both sides of a ratio share a round's noise."""
    result = []
    for mix in MIXES:
        for label, top, bottom, metric, direction, target, goal in RATIOS:
            per_round = [
                getattr(a, metric) / getattr(b, metric)
                for a in runs
                for b in runs
                if a.round == b.round
                and a.mix == b.mix == mix
                and a.server == top
                and b.server == bottom
            ]
            if not per_round:
                continue
            value = statistics.median(per_round)
            result.append(
                {
                    "label": f"{label} ({mix})",
                    "value": value,
                    "per_round": per_round,
                    "target": f"{direction} {target:g}",
                    "target_met": meets(value, direction, target),
                    "spec_goal": f"{direction} {goal:g}",
                    "spec_goal_met": meets(value, direction, goal),
                }
            )
    return result


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i > 1 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    )


def table_text(med: dict[Key, dict[str, float]]) -> str:
    header = ["server", "mix", *(title for _, title, _ in COLUMNS)]
    rows = [
        [server, mix, *(fmt.format(med[mix, server][key]) for key, _, fmt in COLUMNS)]
        for mix, server in med
    ]
    return text_table(header, rows)


def flood_text(floods: list[FloodRun]) -> str:
    header = ["server", "garbage/s", "sent/s", "valid/s", "valid sent", "lost", "lost %", "CPU %"]
    rows = [
        [
            f.server,
            f"{f.garbage_rate:,}",
            f"{f.garbage_sent_rate:,.0f}",
            f"{f.valid_rate:,}",
            f"{f.valid_sent:,}",
            f"{f.valid_lost:,}",
            f"{f.lost_percent:.2f}",
            f"{f.cpu_percent:.1f}",
        ]
        for f in floods
    ]
    return text_table(header, rows)


def ratio_line(ratio: dict[str, Any]) -> str:
    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    return (
        f"ratio {ratio['label']}: {ratio['value']:.2f}x "
        f"(issue target {ratio['target']}: {verdict(ratio['target_met'])}; "
        f"spec goal {ratio['spec_goal']}: {verdict(ratio['spec_goal_met'])})"
    )


def write_chart(runs: list[Run], med: dict[Key, dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("max_qps", "max qps", "{:,.0f}"),
        ("cpu_us_per_query", "CPU us per query at the fixed rate", "{:.1f}"),
        ("p99_ms", "p99 latency ms at the fixed rate", "{:.2f}"),
    )
    keys = list(med)
    labels = [f"{server}\n{mix}" for mix, server in keys]
    colours = {
        "globaldns": "#2a7",
        "pure": "#5b9",
        "before": "#9c9",
        "nsd": "#47a",
        "dnslib": "#c74",
    }
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.6))
    for ax, (key, label, fmt) in zip(axes, panels, strict=True):
        values = [med[k][key] for k in keys]
        bars = ax.bar(labels, values, color=[colours[server] for _, server in keys])
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize=7)
        for x, (mix, server) in enumerate(keys):
            points = [getattr(r, key) for r in runs if r.server == server and r.mix == mix]
            ax.plot([x] * len(points), points, "k.", markersize=5)
        ax.set_title(f"{label} (log scale)", fontsize=10)
        ax.set_yscale("log")  # dnslib is one to two orders of magnitude off the others
        ax.set_ylim(bottom=min(getattr(r, key) for r in runs) / 4)  # every bar stays visible
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def environment() -> dict[str, Any]:
    def line_of(argv: list[str], pattern: str) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        lines = (done.stdout + done.stderr).splitlines()
        return next((line.strip() for line in lines if re.search(pattern, line)), "?")

    try:
        import uvloop

        loop = f"uvloop {uvloop.__version__}"  # type: ignore[attr-defined]
    except ImportError:
        loop = "asyncio (uvloop not installed: figures are not representative)"
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "globaldns_loop": loop,
        "globaldns_udp_loop": "compiled" if compiled_udp() else "pure Python (extension not built)",
        "globaldns_commit": line_of(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], "^[0-9a-f]{40}$"
        ),
        "nsd": line_of(["nsd", "-v"], "^NSD version"),
        "dnsperf": line_of(["dnsperf", "-h"], "^Version"),
        "load_average_1_5_15min": os.getloadavg(),
    }


# --- main ---------------------------------------------------------------------------------


def _names(allowed: tuple[str, ...]) -> Any:
    def parse(value: str) -> tuple[str, ...]:
        names = tuple(name for name in value.split(",") if name)
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"{', '.join(unknown)}: choose from {allowed}")
        return names

    return parse


def _rates(value: str) -> tuple[int, ...]:
    return tuple(int(rate) for rate in value.split(",") if rate)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each dnsperf run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds over all servers (0: flood runs only)"
    )
    parser.add_argument("--names", type=int, default=1000, help="services in the mesh")
    parser.add_argument("--rate", type=int, default=20000, help="fixed rate for CPU per query")
    parser.add_argument("--server-core", type=int, default=1, help="core the servers run on")
    parser.add_argument("--client-core", type=int, default=0, help="core dnsperf runs on")
    parser.add_argument(
        "--servers",
        type=_names(("globaldns", "pure", "nsd", "dnslib")),
        default=("globaldns", "pure", "nsd", "dnslib"),
        help="comma-separated servers to run (default: globaldns,pure,nsd,dnslib; pure is "
        "globaldns forced onto the pure-Python UDP loop)",
    )
    parser.add_argument(
        "--mixes",
        type=_names(MIXES),
        default=MIXES,
        help="comma-separated question mixes (default: repeated,random-case)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="another globaldns source tree (e.g. `git worktree add`) run as server `before`",
    )
    parser.add_argument(
        "--flood",
        type=_rates,
        default=(40000, 80000, 120000),
        metavar="RATES",
        help="garbage packets/s of the flood runs, comma-separated; empty for none",
    )
    parser.add_argument(
        "--flood-valid-rate", type=int, default=10000, help="valid queries/s during a flood"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results",
        help="directory for dns_bench.json and dns_bench.png",
    )
    args = parser.parse_args(argv)
    if args.names < 20:
        parser.error("--names must be at least 20 (every tier needs names)")
    if args.before is not None and not (args.before / "globaldns" / "__main__.py").is_file():
        parser.error(f"--before {args.before} is not a globaldns source tree")
    return args


def servers(workdir: Path, mesh: Path, zone: Path, args: argparse.Namespace) -> list[Server]:
    """The chosen servers on free ports, in the order of the first round."""
    ports = [free_port() for _ in range(5)]
    nsd_conf = workdir / "nsd.conf"
    nsd_conf.write_text(nsd_config(workdir, zone, ports[1]))

    def globaldns(port: int) -> list[str]:
        argv = [sys.executable, "-m", "globaldns", "serve", "--mesh", str(mesh)]
        argv += ["--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{free_port()}"]
        return [*argv, "--log-level", "warning"]

    dnslib = [sys.executable, str(PEERS / "dnslib_server.py"), str(zone), str(ports[2])]
    pure = Server("pure", globaldns(ports[4]), ports[4], workdir / "pure.log")
    pure.env[PURE_PYTHON_ENV] = "1"
    chosen = [
        Server("globaldns", globaldns(ports[0]), ports[0], workdir / "gd.log"),
        pure,
        Server("nsd", ["nsd", "-d", "-c", str(nsd_conf)], ports[1], workdir / "nsd.out"),
        Server("dnslib", dnslib, ports[2], workdir / "dnslib.log"),
    ]
    chosen = [server for server in chosen if server.name in args.servers]
    if args.before is not None:
        before = Server("before", globaldns(ports[3]), ports[3], workdir / "before.log")
        before.cwd = args.before.resolve()
        chosen.insert(2 if "pure" in args.servers else 1, before)
    return chosen


@dataclass
class Results:
    runs: list[Run]
    floods: list[FloodRun]


def bench(args: argparse.Namespace, workdir: Path) -> Results:
    """Generate the workload, start the servers, check them, alternate runs, then flood each."""
    workload = build_workload(args.names)
    mesh = workdir / "mesh.yaml"
    mesh.write_text(yaml.safe_dump(workload.mesh, sort_keys=False))
    table = [sys.executable, "-m", "globaldns", "table", "--mesh", str(mesh), "--format", "zone"]
    zone = workdir / "global.zone"
    zone.write_text(
        subprocess.run(table, capture_output=True, text=True, check=True, cwd=REPO).stdout
    )
    queries = {}
    for mix in args.mixes:
        queries[mix] = workdir / f"queries-{mix}.txt"
        lines = query_lines(workload, random_case=mix == "random-case")
        queries[mix].write_text("\n".join(lines) + "\n")

    results = Results([], [])
    with ExitStack() as stack:
        started = [
            stack.enter_context(running(server, args.server_core))
            for server in servers(workdir, mesh, zone, args)
        ]
        for server in started:
            check_answers(server, workload)
        for round_ in range(args.rounds):
            shift = round_ % len(started)
            for mix in args.mixes:
                for server in started[shift:] + started[:shift]:
                    if server.name == "dnslib" and mix != args.mixes[0]:
                        continue
                    run = measure(server, queries[mix], args, round_, mix)
                    print(
                        f"round {round_ + 1}/{args.rounds} {mix:11} {server.name:9} "
                        f"max {run.max_qps:>9,.0f} qps  CPU {run.cpu_us_per_query:6.2f} us/query "
                        f"at {run.rate:,} qps  p99 {run.p99_ms:.3f} ms",
                        flush=True,
                    )
                    results.runs.append(run)
        for garbage_rate in args.flood:
            for server in started:
                if server.name == "dnslib":  # it cannot answer the valid queries alone
                    continue
                flood = measure_flood(server, queries[args.mixes[0]], args, garbage_rate)
                print(
                    f"flood {garbage_rate:,}/s garbage {server.name:9} lost "
                    f"{flood.valid_lost}/{flood.valid_sent} valid ({flood.lost_percent:.2f}%), "
                    f"CPU {flood.cpu_percent:.0f}%",
                    flush=True,
                )
                results.floods.append(flood)
    return results


def report(args: argparse.Namespace, results: Results) -> None:
    runs = results.runs
    med = medians(runs)
    found = ratios(runs)
    print(f"\nmedians of {args.rounds} round(s), {args.seconds:g} s runs, {args.names} services")
    print(table_text(med))
    for ratio in found:
        print(ratio_line(ratio))
    if results.floods:
        print(f"\nflood runs: garbage beside {args.flood_valid_rate:,} valid queries/s")
        print(flood_text(results.floods))
    args.out.mkdir(parents=True, exist_ok=True)
    chart = args.out / "dns_bench.png"
    title = (
        f"{', '.join(sorted({r.server for r in runs}, key=SERVERS.index))}: {args.names} "
        f"services, {args.rounds} round(s) of {args.seconds:g} s, server on core "
        f"{args.server_core}, dnsperf on core {args.client_core}"
    )
    if runs:
        write_chart(runs, med, chart, title)
    output = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": environment(),
        "runs": [asdict(run) for run in runs],
        "medians": [{"mix": mix, "server": server, **m} for (mix, server), m in med.items()],
        "ratios": found,
        "floods": [{**asdict(f), "lost_percent": f.lost_percent} for f in results.floods],
    }
    (args.out / "dns_bench.json").write_text(json.dumps(output, indent=1) + "\n")
    print(f"wrote {chart} and {args.out / 'dns_bench.json'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C so that every started server is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f} before start; figures will be noisy", flush=True)
    with tempfile.TemporaryDirectory(prefix="dns-bench-") as workdir:
        try:
            results = bench(args, Path(workdir))
        except BenchError as err:
            print(f"dns_bench: {err}", file=sys.stderr)
            return 1
    report(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
