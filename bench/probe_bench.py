"""Issue 8 numbers: how fast a dead gateway leaves the answers, and what probing costs.

1. Failover: a mesh file of K remote clusters, each with one loopback gateway that really
   listens, and a service in each of them plus in one spare cluster that never dies. Each
   gateway is killed (its listener closed) at a random moment within one probe interval, all
   concurrently; the time from the kill to the first answer without it is measured per kill,
   polling every `--poll` seconds. p50/p99 over K kills, at each `--intervals` value.
2. CPU: `globaldns serve` probing N accepting loopback addresses at the default interval; its
   utime+stime from /proc over `--cpu-seconds`, as % of one core, with probing off as the
   baseline.

    python bench/probe_bench.py                 # 100 kills at 2 s and 0.5 s, 400 addresses
    python bench/probe_bench.py --kills 20 --cpu-seconds 5     # a quick look

SPEC §6: within 3 intervals plus one (8 s at the defaults, 2 s at 0.5 s); probing 400 gateway
addresses under 2% of a core. Everything listens and connects on 127.0.0.0/8 only.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import dns.message

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import GlobalDns, cpu_seconds, percentile, wait_for  # noqa: E402
from harness.gateways import GatewayFarm  # noqa: E402

SPARE = "127.0.200.1"


def address(index: int) -> str:
    return f"127.{1 + index // 250}.{index % 250 + 1}.1"


def mesh(count: int, with_services: bool) -> dict[str, Any]:
    """`count` remote clusters (gateway `address(i)`), a spare, and svc-i in cluster i + spare."""
    clusters: list[dict[str, Any]] = [{"name": "here", "region": "west"}]
    clusters.append({"name": "spare", "region": "east", "gateways": [SPARE]})
    clusters += [
        {"name": f"c{i:03d}", "region": "east", "gateways": [address(i)]} for i in range(count)
    ]
    services = [
        {
            "name": f"svc-{i:03d}",
            "instances": {
                f"c{i:03d}": {"addresses": ["10.9.0.1"], "ready": 1},
                "spare": {"addresses": ["10.9.0.2"], "ready": 1},
            },
        }
        for i in range(count)
    ]
    return {
        "zone": "global",
        "localCluster": "here",
        "clusters": clusters,
        "services": services if with_services else [],
    }


class Poller:
    """Asks many names at once over one UDP socket; returns each name's answer addresses."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.2)

    def ask(self, names: list[str]) -> dict[str, set[str]]:
        queries: dict[int, str] = {}
        for number, name in enumerate(names):
            query = dns.message.make_query(name, "A")
            query.id = number
            queries[number] = name
            self.sock.sendto(query.to_wire(), ("127.0.0.1", self.port))
        answers: dict[str, set[str]] = {}
        while len(answers) < len(queries):
            try:
                reply = dns.message.from_wire(self.sock.recv(4096))
            except TimeoutError:
                break
            asked = queries.get(reply.id)
            if asked is not None:
                answers[asked] = {rr.to_text() for rrset in reply.answer for rr in rrset}
        return answers


def failover(kills: int, interval: float, poll: float) -> list[float]:
    """Seconds from each gateway's death to the first answer without it."""
    with GatewayFarm() as farm:
        farm.gateway(SPARE)
        gateways = [farm.gateway(address(i)) for i in range(kills)]
        server = GlobalDns(
            mesh(kills, with_services=True),
            ["--gateway-probe-port", str(farm.port), "--gateway-probe-interval", str(interval),
             "--log-level", "warning"],
        ).start()  # fmt: skip
        try:
            poller = Poller(server.port)
            names = [f"svc-{i:03d}.global" for i in range(kills)]
            wait_for(
                lambda: all(len(a) == 2 for a in poller.ask(names).values()),
                30, 0.2, "every service answered from both clusters",
            )  # fmt: skip
            time.sleep(3 * interval)  # every address probed a few times: phases settled
            start = time.monotonic()
            kill_at = {i: start + random.uniform(0, interval) for i in range(kills)}
            left: dict[int, float] = {}
            pending = set(range(kills))
            deadline = start + interval + 10 * interval + 10
            while pending and time.monotonic() < deadline:
                now = time.monotonic()
                for i in [i for i in pending if i not in left and kill_at[i] <= now]:
                    gateways[i].refuse()
                    left[i] = time.monotonic()
                killed = [i for i in pending if i in left]
                answers = poller.ask([names[i] for i in killed]) if killed else {}
                seen = time.monotonic()
                for i in killed:
                    if address(i) not in answers.get(names[i], {address(i)}):
                        pending.discard(i)
                        left[i] = seen - left[i]
                time.sleep(poll)
            if pending:
                print(f"  {len(pending)} kills never left the answers", file=sys.stderr)
            return sorted(left[i] for i in range(kills) if i not in pending)
        finally:
            server.stop()


def latencies(port: int, seconds: float) -> list[float]:
    """Sequential queries, one every 5 ms: each one's round trip, sorted."""
    poller = Poller(port)
    out: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        poller.ask(["nothing.global"])
        out.append(time.perf_counter() - started)
        time.sleep(0.005)
    return sorted(out)


def cpu_percent(addresses: int, seconds: float, probing: bool) -> tuple[float, list[float]]:
    """% of one core `globaldns serve` uses over `seconds` with `addresses` gateways, then
    DNS round trips measured after it (queries cost CPU too: never in the same window)."""
    with GatewayFarm() as farm:
        for i in range(addresses):
            farm.gateway(address(i))
        server = GlobalDns(
            mesh(addresses, with_services=False),
            ["--gateway-probe-port", str(farm.port if probing else 0), "--log-level", "warning"],
        ).start()
        try:
            assert server.process is not None
            pid = server.process.pid
            time.sleep(3)  # start-up and the first round of probes behind us
            before, started = cpu_seconds(pid), time.monotonic()
            time.sleep(seconds)
            used = cpu_seconds(pid) - before
            elapsed = time.monotonic() - started
            if probing:
                count = server.metric("globaldns_gateway_probe_duration_seconds_count")
                print(f"  {count:.0f} probes done", file=sys.stderr)
            return 100 * used / elapsed, latencies(server.port, min(seconds, 10))
        finally:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--intervals", default="2,0.5", help="probe intervals to measure, s")
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between DNS polls")
    parser.add_argument("--cpu-addresses", type=int, default=400)
    parser.add_argument("--cpu-seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    for interval in (float(i) for i in args.intervals.split(",") if i.strip()):
        times = failover(args.kills, interval, args.poll)
        target = 4 * interval  # 3 failures in a row, plus up to one interval until the first
        if times:
            print(
                f"interval {interval:g} s: {len(times)} kills, death -> answer "
                f"p50 {statistics.median(times):.2f} s, p99 {percentile(times, 0.99):.2f} s, "
                f"max {times[-1]:.2f} s (target {target:g} s)"
            )
    idle, quiet = cpu_percent(args.cpu_addresses, args.cpu_seconds, probing=False)
    busy, probed = cpu_percent(args.cpu_addresses, args.cpu_seconds, probing=True)
    print(
        f"CPU, {args.cpu_addresses} gateway addresses at the default 2 s interval: "
        f"{busy:.2f}% of a core probing, {idle:.2f}% with probing off, "
        f"{busy - idle:.2f}% for probing (target < 2%)"
    )
    for label, rtts in (("probing off", quiet), ("probing", probed)):
        print(
            f"DNS round trip, {label}: {len(rtts)} queries, p50 {1000 * percentile(rtts, 0.5):.2f}"
            f" ms, p99 {1000 * percentile(rtts, 0.99):.2f} ms, max {1000 * rtts[-1]:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
