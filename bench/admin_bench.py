"""How long a `/metrics` scrape holds the serving loop at 200 clusters, before and after.

Before, the whole scrape (collecting the families and writing the text) ran on the loop; now
only `Scraper.freeze()` does (copying what the loop-owned collectors read), and the rest runs
in a worker thread. Both are timed in-process on the same state: a mesh of 200 clusters in 10
regions and 1,000 services in 4 clusters each, with every remote gateway probed once.

    python bench/admin_bench.py [--clusters 200] [--services 1000] [--rounds 50]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import generate_latest

from globaldns.app import MeshState
from globaldns.config.common import SourceSettings
from globaldns.dns.responder import QueryCounters
from globaldns.health import GatewayHealthCollector, Prober, ProbeSettings
from globaldns.server.counters import TransportCounters
from globaldns.server.metrics import GlobalDnsCollector, Scraper
from globaldns.settings import Settings
from globaldns.sources import mesh as mesh_source


def mesh(clusters: int, services: int) -> mesh_source.Mesh:
    doc: dict[str, Any] = {
        "zone": "global",
        "localCluster": "c000",
        "clusters": [
            {
                "name": f"c{c:03d}",
                "region": f"r{c % 10}",
                "gateways": [f"10.{c // 256}.{c % 256}.1", f"10.{c // 256}.{c % 256}.2"],
            }
            for c in range(clusters)
        ],
        "services": [
            {
                "name": f"svc-{i:05d}.ns-{i % 50:02d}",
                "ports": [{"name": "http", "port": 80}],
                "instances": {
                    f"c{(i + k * 7) % clusters:03d}": {"addresses": ["10.100.0.1"], "ready": 1}
                    for k in range(4)
                },
            }
            for i in range(services)
        ],
    }
    return mesh_source.parse(doc, "bench")


def timings(work: Callable[[], object], rounds: int) -> list[float]:
    took = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        took.append((time.perf_counter() - start) * 1000)
    return sorted(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    loaded = mesh(args.clusters, args.services)
    settings = Settings(
        sources=SourceSettings(local_cluster="c000"), probes=ProbeSettings(port=15443)
    )
    state = MeshState(settings, loaded)
    prober = Prober(state.table, settings.probes)
    collector = GlobalDnsCollector(
        QueryCounters(), TransportCounters(), state.stats, state.clusters, state.ready
    )
    scraper = Scraper(collector, GatewayHealthCollector(prober))
    size = len(generate_latest(scraper.freeze()))
    whole = timings(lambda: generate_latest(scraper.freeze()), args.rounds)
    frozen = timings(scraper.freeze, args.rounds)
    print(f"{args.clusters} clusters, {state.table.size} names, a scrape of {size:,} bytes")
    for label, took in (("before: the whole scrape", whole), ("after: freeze() only", frozen)):
        p50, worst = statistics.median(took), took[-1]
        print(f"  {label:<26} on the loop: median {p50:.2f} ms, max {worst:.2f} ms")


if __name__ == "__main__":
    main()
