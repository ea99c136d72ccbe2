"""Issue 7.3 numbers: how long a mesh-file reload holds DNS answers up, and how long until the
new answers are served, at 5,000 and 20,000 services, one line changed and every line changed.

A probe thread asks one unchanged name over UDP every millisecond (one query in flight, so a
stalled loop shows as one slow answer) from before the edit until the server logs the reload;
"longest delay" is the slowest of those answers, "idle" the slowest in the second before the
edit. "New answers" is the time from writing the file to the server's reload line (everything
compiled); it includes up to 0.2 s of the file poll.

    python bench/reload_bench.py                   # 5,000 and 20,000 services
    python bench/reload_bench.py --services 2000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import dns.exception  # noqa: E402

from harness import addresses, ask, free_port, wait_for  # noqa: E402

CLUSTERS = ("a", "b", "c", "d")
PROBE = "probe.global"
QUESTION = (
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x06global\x00\x00\x01\x00\x01"
)


def mesh_text(services: int, generation: int, changed: range) -> str:
    """One line per service; services in `changed` get addresses of this `generation`."""
    lines = [
        "zone: global",
        "localCluster: a",
        "clusters:",
        *(
            f"  - {{name: {c}, region: r{i % 2}, gateways: [192.0.2.{i + 1}]}}"
            for i, c in enumerate(CLUSTERS)
        ),
        "services:",
        "  - {name: probe, instances: {a: {addresses: [10.255.255.1], ready: 1}}}",
    ]
    for n in range(services):
        gen = generation if n in changed else 0
        first, second = CLUSTERS[n % 4], CLUSTERS[(n + 1) % 4]
        address = f"10.{gen}.{n // 250}.{n % 250}"
        lines.append(
            f"  - {{name: s{n}.ns, ports: [{{name: http, port: 80}}], instances: "
            f"{{{first}: {{addresses: [{address}], ready: {n % 3}}}, "
            f"{second}: {{addresses: [10.{gen + 100}.{n // 250}.{n % 250}], ready: 1}}}}}}"
        )
    return "\n".join(lines) + "\n"


@dataclass
class Result:
    services: int
    change: str
    idle_max_ms: float
    reload_max_ms: float
    queries: int
    lost: int
    new_answers_s: float


class Probe(threading.Thread):
    """Asks `probe.global` every millisecond and keeps (send time, round trip) per answer."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self.lost = 0
        self.running = True

    def run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.connect(("127.0.0.1", self.port))
            tick = time.monotonic()
            while self.running:
                sent = time.monotonic()
                sock.send(QUESTION)
                try:
                    sock.recv(512)
                except TimeoutError:
                    self.lost += 1
                    continue
                self.samples.append((sent, time.monotonic() - sent))
                tick += 0.001
                time.sleep(max(0.0, tick - time.monotonic()))


def reload_lines(log: Path) -> list[float]:
    """Wall-clock times of the server's reload lines (it logs JSON)."""
    times = []
    for line in log.read_text().splitlines():
        doc = json.loads(line)
        if "reloaded" in doc["message"]:
            times.append(datetime.fromisoformat(doc["time"]).timestamp())
    return times


def measure(services: int, workdir: Path) -> list[Result]:
    mesh = workdir / f"mesh-{services}.yaml"
    mesh.write_text(mesh_text(services, 0, range(0)))
    port, admin = free_port(), free_port()
    log = workdir / f"server-{services}.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "globaldns", "serve", "--mesh", str(mesh),
         "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}",
         "--log-format", "json"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )  # fmt: skip
    results = []
    one_line = next(n for n in range(services // 2, services) if answered_locally(n))
    try:
        wait_for(lambda: _answers(port), 300, 0.2, "globaldns to answer")
        for generation, (change, changed) in enumerate(
            (("one line", range(one_line, one_line + 1)),
             ("every line", range(services))),
            start=1,
        ):  # fmt: skip
            results.append(_reload(services, change, changed, generation, mesh, port, log))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    return results


def _answers(port: int) -> bool:
    try:
        return addresses(ask(port, PROBE, timeout=0.5)) == ["10.255.255.1"]
    except (OSError, dns.exception.Timeout):  # not listening yet, or compiling its first table
        return False


def answered_locally(n: int) -> bool:
    """Service `n` runs first in the local cluster with ready pods: its address changes."""
    return n % 4 == 0 and n % 3 != 0


def _reload(
    services: int, change: str, changed: range, generation: int, mesh: Path, port: int, log: Path
) -> Result:
    seen = len(reload_lines(log))
    probe = Probe(port)
    probe.start()
    time.sleep(1.0)
    tmp = mesh.with_suffix(".tmp")
    tmp.write_text(mesh_text(services, generation, changed))
    written_wall, written = time.time(), time.monotonic()
    os.replace(tmp, mesh)
    done = wait_for(lambda: reload_lines(log)[seen:], 120, 0.01, "the reload line")[0]
    time.sleep(0.3)
    probe.running = False
    probe.join()
    idle = [rtt for sent, rtt in probe.samples if sent < written]
    during = [rtt for sent, rtt in probe.samples if sent >= written]
    n = next(n for n in reversed(changed) if answered_locally(n))
    expected = [f"10.{generation}.{n // 250}.{n % 250}"]
    if addresses(ask(port, f"s{n}.ns.global")) != expected:
        raise SystemExit(f"s{n}.ns.global does not answer {expected} after the reload")
    return Result(
        services=services,
        change=change,
        idle_max_ms=1000 * max(idle),
        reload_max_ms=1000 * max(during),
        queries=len(during),
        lost=probe.lost,
        new_answers_s=done - written_wall,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--services", type=int, nargs="+", default=[5000, 20000], metavar="N",
        help="mesh sizes to measure (default: 5000 20000)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="reload-bench-"))
    results = [r for services in args.services for r in measure(services, workdir)]
    print("| services | change | idle max ms | max DNS delay ms | queries | lost | new answers s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.services:,} | {r.change} | {r.idle_max_ms:.1f} | {r.reload_max_ms:.1f} | "
            f"{r.queries:,} | {r.lost} | {r.new_answers_s:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
