"""SPEC §5: no admin request holds DNS for more than a few milliseconds. With 25,000 names,
three clients read the whole `/table` at once, page after page, while DNS and `/health` are
asked over and over: UDP answers come within 50 ms and every `/health` within 500 ms.

The server's work comes in ~1 ms slices, but on a shared machine the OS may preempt the server
in the middle of one (measured: slices of 1 ms of CPU took up to 40 ms at a load of 8 on 2
cores; one answer of 4,115 took 209 ms there), so the bound holds for 99% of the answers,
and the slowest may take as long as `/health` may. Before slices, one read of 50,000 names held
DNS for seconds."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dns.exception
import pytest

from harness import GlobalDns, percentile

CLUSTERS = 6  # each its own region: a service claims 1 + 6 + 6 names
NAMES_PER_SERVICE = 1 + 2 * CLUSTERS
SERVICES = 1924  # 1,924 x 13 = 25,012 names, most of them pinned (their views made on demand)


def mesh() -> dict[str, Any]:
    return {
        "zone": "global",
        "localCluster": "c0",
        "clusters": [
            {"name": f"c{c}", "region": f"r{c}", "gateways": [f"192.0.2.{c + 1}"]}
            for c in range(CLUSTERS)
        ],
        "services": [
            {
                "name": f"s{i:05d}.ns{i % 40}",
                "ports": [{"name": "http", "port": 80}],
                "instances": {
                    f"c{c}": {"addresses": [f"10.1.{i // 256}.{i % 256}"], "ready": 1}
                    for c in range(CLUSTERS)
                },
            }
            for i in range(SERVICES)
        ],
    }


@pytest.fixture(scope="module")
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(mesh()).start(timeout=120)  # compiling 25,000 names takes seconds
    yield srv
    srv.stop()


# A client in its own process (so its JSON parsing takes no turns from the probes' threads),
# at the lowest priority (so the server, not the clients, gets the machine's cores): follows
# every page and prints how many names came, and whether in order and once each.
READER = """
import json, sys, urllib.request
url, names, token = sys.argv[1], [], None
while True:
    with urllib.request.urlopen(url + (f"?continue={token}" if token else ""), timeout=60) as r:
        page = json.loads(r.read())
    names += [entry["name"] for entry in page["names"]]
    token = page.get("continue")
    if token is None:
        break
print(len(names), names == sorted(set(names)))
"""


def reader(server: GlobalDns) -> subprocess.Popen[str]:
    url = f"http://127.0.0.1:{server.admin_port}/table"
    return subprocess.Popen(
        ["nice", "-n", "19", sys.executable, "-c", READER, url], stdout=subprocess.PIPE, text=True
    )


def timed(work: Callable[[], object], stop: threading.Event, took: list[float]) -> None:
    """How long each `work()` takes until `stop`; one that times out counts as forever."""
    while not stop.is_set():
        start = time.perf_counter()
        try:
            work()
            took.append(time.perf_counter() - start)
        except (OSError, dns.exception.Timeout):
            took.append(math.inf)
        time.sleep(0.005)


def test_three_full_table_reads_leave_dns_and_health_fast(server: GlobalDns) -> None:
    stop = threading.Event()
    udp: list[float] = []
    health: list[float] = []
    probes = [
        threading.Thread(target=timed, args=(lambda: server.ask("s00007.ns7.global"), stop, udp)),
        threading.Thread(target=timed, args=(lambda: server.http("/health"), stop, health)),
    ]
    for thread in probes:
        thread.start()
    readers = [reader(server) for _ in range(3)]
    try:
        outputs = [r.communicate(timeout=120)[0].split() for r in readers]
    finally:
        stop.set()
        for r in readers:
            r.kill()
        for thread in probes:
            thread.join(5)
    assert outputs == [[str(SERVICES * NAMES_PER_SERVICE), "True"]] * 3
    figures = (
        f"UDP p50 {percentile(udp, 0.5) * 1000:.1f} ms, p99 {percentile(udp, 0.99) * 1000:.1f}"
    )
    figures += f", max {max(udp) * 1000:.1f} ms over {len(udp)} answers"
    assert len(udp) > 100 and percentile(udp, 0.99) < 0.050 and max(udp) < 0.500, figures
    assert max(health) < 0.500, f"slowest /health {max(health) * 1000:.0f} ms"
