"""Issue 3 numbers: the Kubernetes source at scale, against the emulator run as a process.

Measures initial sync time, propagation (emulator change -> changed DNS answer, p50/p99), DNS
latency idle vs while updates flow (each question timed until its reply reached the client's
socket and until the client read it: harness/timed_client.py), and resident memory at several
cluster counts; prints a table and writes a PNG chart. Scale is set by flags; the SPEC's target
is 200 x 1,000.

    python bench/kube_bench.py --clusters 200 --services 1000 --changes 1000 \
        --memory-points 10,50,200 --chart bench/kube.png

The imports feed (`--mcs-imports`, SPEC §7): one cluster holding `--services` ServiceImports,
each with a labelled EndpointSlice from `--imports-from` source clusters, instead of N x N:

    python bench/kube_bench.py --imports-from 200 --services 1000 --changes 1000 \
        --latency-seconds 0 --memory-points '' --table-scale ''

A quick first sync only (CPU of globaldns and of the emulator, RSS), for iterating:

    python bench/kube_bench.py --clusters 50 --services 1000 --changes 0 \
        --latency-seconds 0 --memory-points '' --table-scale ''
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import dns.exception

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import (  # noqa: E402
    addresses,
    ask,
    cpu_seconds,
    free_port,
    percentile,
    wait_for,
)
from harness.kube_emulator import ControlClient  # noqa: E402
from harness.timed_client import Latencies, TimedAsker  # noqa: E402

NAMESPACE = "bench"


@dataclass
class Run:
    """One emulator and one globaldns over it."""

    clusters: int
    services: int
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kube-bench-")))
    port: int = field(default_factory=free_port)
    admin: int = field(default_factory=free_port)
    emulator: subprocess.Popen[bytes] | None = None
    server: subprocess.Popen[bytes] | None = None
    control: ControlClient | None = None
    timeouts: int = 0
    sync_seconds: float = 0.0
    watch_process: str = "on"  # serve's --watch-process
    imports_from: int = 0  # >0: the imports feed, one cluster importing from this many
    sync_cpu: float = 0.0  # globaldns' CPU seconds (all its threads and processes) until /ready
    sync_watch_cpu: float = 0.0  # of which its watch process's
    emulator_cpu: float = 0.0  # the emulator's, over the same span

    def start(self) -> Run:
        seeding = ["--clusters-count", str(self.clusters), "--services-per-cluster",
                   str(self.services)]  # fmt: skip
        feed: list[str] = []
        if self.imports_from:
            seeding = ["--clusters-count", "1", "--imports", str(self.services),
                       "--imports-from", str(self.imports_from)]  # fmt: skip
            feed = ["--mcs-imports"]
        self.emulator = subprocess.Popen(
            [sys.executable, "-m", "harness.kube_emulator", "--dir", str(self.dir / "emu"),
             *seeding, "--bookmark-interval", "5"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=(self.dir / "emu.log").open("wb"),
        )  # fmt: skip
        control = self.dir / "emu" / "control.json"
        wait_for(control.exists, 1800, 0.2, "the emulator to seed its clusters")
        self.control = ControlClient(json.loads(control.read_text())["url"], timeout=120)
        emulator_before = cpu_seconds(self.emulator.pid)
        started = time.monotonic()
        self.server = subprocess.Popen(
            [sys.executable, "-m", "globaldns", "serve",
             "--kubeconfig", str(self.dir / "emu" / "kubeconfig"),
             "--local-cluster", "cluster-000", "--listen", f"127.0.0.1:{self.port}",
             "--admin", f"127.0.0.1:{self.admin}", "--sync-timeout", "1800",
             # /ready then means every cluster synced (by default only the local one).
             "--ready-wait-remote", "1800",
             "--gateway-probe-port", "0", "--log-level", "warning",
             "--watch-process", self.watch_process, *feed],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=(self.dir / "server.log").open("wb"),
        )  # fmt: skip
        wait_for(self._ready, 1800, 0.1, "globaldns /ready")
        self.sync_seconds = time.monotonic() - started
        self.sync_cpu = self.cpu()
        self.sync_watch_cpu = self.sync_cpu - cpu_seconds(self.server.pid)
        self.emulator_cpu = cpu_seconds(self.emulator.pid) - emulator_before
        return self

    def _ready(self) -> bool:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/ready", timeout=5) as r:
                status: int = r.status
                return status == 200
        except (OSError, urllib.error.URLError):
            return False

    def processes(self) -> list[int]:
        """globaldns's processes: the server and its watch process (`--watch-process on`)."""
        assert self.server is not None
        pids = [self.server.pid]
        for task in Path(f"/proc/{self.server.pid}/task").iterdir():
            pids.extend(int(p) for p in (task / "children").read_text().split())
        return pids

    def cpu(self) -> float:
        """CPU seconds of every globaldns process, those it reaped (a replaced watch process)
        included: `cutime` and `cstime` of the server."""
        assert self.server is not None
        fields = Path(f"/proc/{self.server.pid}/stat").read_text().rsplit(")", 1)[1].split()
        reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
        return sum(cpu_seconds(pid) for pid in self.processes()) + reaped

    def rss_mib(self) -> float:
        """Resident memory of every globaldns process, summed (pages a forked watch process
        still shares with the server count twice)."""
        return sum(_rss_mib(pid) for pid in self.processes())

    def pss_mib(self) -> float:
        """Proportional set size, summed: each shared page counted once, split between them."""
        return sum(_pss_mib(pid) for pid in self.processes())

    def stop(self) -> None:
        for process in (self.server, self.emulator):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no Pss")


def slice_of(name: str, ready: bool, address: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-abcde",
            "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": ready}}],
    }


def answer(run: Run, name: str) -> list[str] | None:
    """The sorted addresses, or None when no reply came within 2 s (counted in the results)."""
    try:
        return sorted(addresses(ask(run.port, name, timeout=2)))
    except dns.exception.Timeout:
        run.timeouts += 1
        return None


class Rows(list[tuple[str, str]]):
    """Results, each printed as it comes: a long run that fails late still shows what it got."""

    def append(self, row: tuple[str, str]) -> None:
        super().append(row)
        print(f"{row[0]}: {row[1]}", flush=True)


def propagation(run: Run, changes: int) -> list[float]:
    """Flip a local Service between ready (its ClusterIP) and unready (remote gateways)."""
    assert run.control is not None
    latencies = []
    for number in range(changes):
        name = f"svc-{number % run.services:05d}"
        fqdn = f"{name}.{NAMESPACE}.global"
        before = None
        while before is None:
            before = answer(run, fqdn)
        ready = number // run.services % 2 == 1
        started = time.monotonic()
        run.control.put("cluster-000", slice_of(name, ready, "10.200.0.1"))
        while answer(run, fqdn) in (before, None):
            if time.monotonic() - started > 10:
                raise RuntimeError(f"{fqdn} did not change within 10 s")
        latencies.append(time.monotonic() - started)
    return latencies


def import_propagation(run: Run, changes: int) -> list[float]:
    """Move an imported service's VIP (its ServiceImport's spec.ips) and wait for the
    clusterset name to answer the new one."""
    from harness.kube_emulator.seed import service_import, vip

    assert run.control is not None
    latencies = []
    for number in range(changes):
        index = number % run.services
        name = f"svc-{index:05d}"
        fqdn = f"{name}.{NAMESPACE}.svc.clusterset.local"
        address = vip(index, 1 + number // run.services)
        started = time.monotonic()
        run.control.put("cluster-000", service_import(NAMESPACE, name, address))
        while answer(run, fqdn) != [address]:
            if time.monotonic() - started > 10:
                raise RuntimeError(f"{fqdn} did not change within 10 s")
        latencies.append(time.monotonic() - started)
    return latencies


def dns_latency(run: Run, seconds: float) -> Latencies:
    """One question after another for `seconds`, each timed at the client's socket and in the
    client (see harness.timed_client); unanswered ones counted in `run.timeouts`."""
    out = Latencies()
    asker = TimedAsker(run.port)
    deadline = time.monotonic() + seconds
    number = 0
    try:
        while time.monotonic() < deadline:
            timed = asker.ask(f"svc-{number % run.services:05d}.{NAMESPACE}.global")
            if timed is None:
                run.timeouts += 1
            else:
                out.add(timed)
            number += 1
    finally:
        asker.close()
    return out


def updates(
    url: str, clusters: list[str], services: int, rate: int, seconds: float, turn: int,
    flowing: EventType, stop: EventType,
) -> None:  # fmt: skip
    """Endpoint flips at about `rate` per second, 50 per request, until `stop` is set (or
    `seconds` passed); `flowing` is set once the first request was answered.

    Each `turn` sends the requests of the turn before with every endpoint flipped the other
    way, so that every update changes something (the same object again changes nothing).

    Runs in its own process, so that pushing updates never competes with the DNS client for
    the bench's GIL: what the client measures is the server, and the machine.
    """
    control = ControlClient(url, timeout=120)
    batch = 50
    number = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop.is_set():
        started = time.monotonic()
        items = [
            slice_of(f"svc-{(number * batch + i) % services:05d}",
                     (number + i + turn) % 2 == 0, "10.201.0.1")
            for i in range(batch)
        ]  # fmt: skip
        control.put(clusters[number % len(clusters)], *items)
        flowing.set()
        number += 1
        time.sleep(max(0.0, batch / rate - (time.monotonic() - started)))


def under_updates(
    run: Run, clusters: list[str], rate: int, seconds: float, turn: int
) -> tuple[Latencies, float, float]:
    """DNS latency while another process pushes updates into `clusters` of the emulator, and
    globaldns's CPU seconds over the same window (all processes, the serving one); `turn`
    counts the flows into the same clusters before (see `updates`)."""
    assert run.control is not None and run.server is not None
    context = multiprocessing.get_context("spawn")
    flowing, stop = context.Event(), context.Event()
    pusher = context.Process(
        target=updates,
        args=(run.control.url, clusters, run.services, rate, seconds + 60, turn, flowing, stop),
    )
    pusher.start()
    try:
        if not flowing.wait(60):
            raise RuntimeError("the update pusher sent nothing within 60 s")
        time.sleep(0.2)  # let the flow reach globaldns
        before, serving_before = run.cpu(), cpu_seconds(run.server.pid)
        latencies = dns_latency(run, seconds)
        spent, serving = run.cpu() - before, cpu_seconds(run.server.pid) - serving_before
        return latencies, spent, serving
    finally:
        stop.set()
        pusher.join(30)
        if pusher.is_alive():
            pusher.kill()


def latency_rows(
    run: Run, rows: Rows, rate: int, seconds: float, rounds: int
) -> tuple[Latencies, Latencies]:
    """DNS latency idle, while `rate` updates/s flow into a cluster globaldns does not watch,
    and while they flow into the watched ones; their samples idle and under updates.

    The three phases take turns, `rounds` times, each `seconds / rounds` long, and each one's
    samples are pooled: noise on a shared machine comes in bursts of seconds, and phases run
    once each, one after another, caught different bursts (the unwatched flow, which globaldns
    does no work for, measured 0.5x-2.1x idle at p99 in one afternoon). The unwatched flow is what
    the load costs the machine (the emulator and the pusher share its cores) apart from
    globaldns's work.

    Each phase is shown twice: until the reply reached the client's socket, and until the
    client read it, which adds how long the client waited for a core (see `TimedAsker`).
    """
    assert run.control is not None and run.server is not None
    run.control.add_cluster("bystander")
    watched = [f"cluster-{c:03d}" for c in range(1, max(run.clusters, 2))]
    idle, bystander, busy = Latencies(), Latencies(), Latencies()
    spent = serving_spent = 0.0
    for turn in range(rounds):
        idle += dns_latency(run, seconds / rounds)
        bystander += under_updates(run, ["bystander"], rate, seconds / rounds, turn)[0]
        latencies, cpu, serving = under_updates(run, watched, rate, seconds / rounds, turn)
        busy += latencies
        spent, serving_spent = spent + cpu, serving_spent + serving
    for where, of in (("at the client's socket", _at_socket), ("in the client", _in_client)):
        rows.append((f"DNS p50 / p99 idle, {where}", p50_p99(of(idle))))
        rows.append((f"DNS p50 / p99, {rate} updates/s to an unwatched cluster, {where}",
                     p50_p99(of(bystander))))  # fmt: skip
        rows.append((f"DNS p50 / p99 under {rate} updates/s, {where}", p50_p99(of(busy))))
        ratios = [percentile(of(s), 0.99) / percentile(of(idle), 0.99) for s in (bystander, busy)]
        rows.append((f"DNS p99 over idle: unwatched / under updates, {where}",
                     f"{ratios[0]:.2f}x / {ratios[1]:.2f}x"))  # fmt: skip
    rows.append(
        (f"globaldns CPU share under {rate} updates/s",
         f"{spent / seconds:.0%} of a core, {serving_spent / seconds:.0%} in the serving process")
    )  # fmt: skip
    return idle, busy


def _at_socket(latencies: Latencies) -> list[float]:
    return latencies.at_socket


def _in_client(latencies: Latencies) -> list[float]:
    return latencies.in_client


def commit_cost(clusters: int, services: int, samples: int = 200) -> dict[str, list[float]]:
    """The Table's own cost, in process: one Instance change and one gateway change, each
    committed alone, with the table holding `clusters` x `services`."""
    from globaldns.dns.zone import ZoneConfig
    from globaldns.table.model import Cluster, Instance, Port
    from globaldns.table.table import Table

    table = Table(ZoneConfig(), local_cluster="cluster-000")
    ports = (Port("http", 80),)
    for c in range(clusters):
        table.put_cluster(Cluster(f"cluster-{c:03d}", "west" if c % 2 else "east", ("172.16.0.1",)))
        for s in range(services):
            host = f"svc-{s:05d}.{NAMESPACE}"
            table.put_instance(f"cluster-{c:03d}", host, Instance(host, ("10.0.0.1",), 1, ports))
    started = time.perf_counter()
    table.commit()
    out: dict[str, list[float]] = {"build": [time.perf_counter() - started]}
    out["instance"] = []
    for n in range(samples):
        host = f"svc-{n % services:05d}.{NAMESPACE}"
        started = time.perf_counter()
        table.put_instance("cluster-000", host, Instance(host, ("10.0.0.1",), n % 2, ports))
        table.commit()
        out["instance"].append(time.perf_counter() - started)
    out["gateway"] = []
    for n in range(min(samples, 10)):
        started = time.perf_counter()
        table.put_cluster(Cluster("cluster-001", "west", (f"172.16.1.{n + 2}",)))
        table.commit()
        out["gateway"].append(time.perf_counter() - started)
    return out


def p50_p99(values: list[float]) -> str:
    return f"{percentile(values, 0.5) * 1e3:.2f} / {percentile(values, 0.99) * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--changes", type=int, default=1000, help="0: skip propagation")
    parser.add_argument("--update-rate", type=int, default=1000)
    parser.add_argument(
        "--latency-seconds", type=float, default=10, help="0: skip DNS latency idle and busy"
    )
    parser.add_argument(
        "--latency-rounds", type=int, default=5,
        help="the latency phases interleaved in this many rounds, sharing --latency-seconds",
    )  # fmt: skip
    parser.add_argument("--memory-points", default="5,10,20", help="'': skip the memory runs")
    parser.add_argument(
        "--table-scale", default="200x1000", help="CLUSTERSxSERVICES, in process; '': skip"
    )
    parser.add_argument("--chart", type=Path, default=REPO / "bench" / "kube.png")
    parser.add_argument(
        "--imports-from",
        type=int,
        default=0,
        help="measure the imports feed: one cluster importing --services from N clusters",
    )
    parser.add_argument(
        "--watch-process", choices=("on", "off"), default="on", help="serve's --watch-process"
    )
    args = parser.parse_args()

    rows = Rows()
    if args.table_scale:
        scale_clusters, scale_services = (int(n) for n in args.table_scale.split("x"))
        costs = commit_cost(scale_clusters, scale_services)
        rows.append((f"table build+commit, {args.table_scale}", f"{costs['build'][0]:.1f} s"))
        rows.append(
            (f"one Instance change+commit at {args.table_scale}", p50_p99(costs["instance"]))
        )
        rows.append((f"one gateway change+commit at {args.table_scale}", p50_p99(costs["gateway"])))
    lat: list[float] = []
    idle, busy = Latencies(), Latencies()
    run = Run(
        args.clusters,
        args.services,
        watch_process=args.watch_process,
        imports_from=args.imports_from,
    ).start()
    try:
        scale = f"{args.clusters} x {args.services}"
        if args.imports_from:
            scale = f"imports feed, {args.imports_from} x {args.services}"
        rows.append((f"initial sync, {scale}", f"{run.sync_seconds:.1f} s"))
        rows.append((f"globaldns CPU in the initial sync, {scale}", f"{run.sync_cpu:.1f} s"))
        rows.append((f"  of which the watch process's, {scale}", f"{run.sync_watch_cpu:.1f} s"))
        rows.append((f"emulator CPU in the initial sync, {scale}", f"{run.emulator_cpu:.1f} s"))
        rows.append((f"RSS after the initial sync, {scale}", f"{run.rss_mib():.0f} MiB"))
        assert run.server is not None
        serving = _rss_mib(run.server.pid)
        rows.append((f"  of which the serving process's, {scale}", f"{serving:.0f} MiB"))
        rows.append((f"PSS after the initial sync, {scale}", f"{run.pss_mib():.0f} MiB"))
        if args.changes:
            flip = import_propagation if args.imports_from else propagation
            lat = flip(run, args.changes)
            rows.append(
                (f"propagation p50 ({len(lat)} changes)", f"{percentile(lat, 0.5) * 1e3:.1f} ms")
            )
            rows.append(
                (f"propagation p99 ({len(lat)} changes)", f"{percentile(lat, 0.99) * 1e3:.1f} ms")
            )
        if args.latency_seconds:
            idle, busy = latency_rows(run, rows, args.update_rate, args.latency_seconds,
                                      args.latency_rounds)  # fmt: skip
        rows.append(("DNS queries unanswered within 2 s", str(run.timeouts)))
    finally:
        run.stop()

    memory: list[tuple[int, float, float]] = []
    for count in (int(n) for n in args.memory_points.split(",") if n):
        point = Run(count, args.services, watch_process=args.watch_process).start()
        try:
            memory.append((count, point.rss_mib(), point.sync_seconds))
            rows.append((f"RSS at {count} clusters x {args.services}", f"{memory[-1][1]:.0f} MiB"))
        finally:
            point.stop()

    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if lat and idle.at_socket and busy.at_socket and memory:
        chart(args.chart, lat, idle.at_socket, busy.at_socket, memory, args.services)
        print(f"chart: {args.chart}")


def chart(
    path: Path,
    propagation_s: list[float],
    idle: list[float],
    busy: list[float],
    memory: list[tuple[int, float, float]],
    services: int,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.5))
    left.hist([v * 1e3 for v in propagation_s], bins=50)
    left.set(title="propagation (change -> answer)", xlabel="ms", ylabel="changes")
    middle.boxplot([[v * 1e3 for v in idle], [v * 1e3 for v in busy]], showfliers=False)
    middle.set_xticks([1, 2], ["idle", "updates flowing"])
    middle.set(title="DNS latency (at the client's socket)", ylabel="ms")
    right.plot([m[0] for m in memory], [m[1] for m in memory], marker="o")
    right.set(title=f"resident memory ({services} services/cluster)", xlabel="clusters",
              ylabel="MiB")  # fmt: skip
    figure.tight_layout()
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
