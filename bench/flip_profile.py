"""The table's cost of one remote readiness flip, in process: every local endpoint unready, so
each name answers every remote cluster's gateway and a flip recompiles the whole name.

    python bench/flip_profile.py --clusters 200 --services 50 --flips 3000 [--profile]

It measures the tree it is in (another checkout's copy measures that checkout), so before and
after run side by side, alternating.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from globaldns.dns.zone import ZoneConfig
from globaldns.table.model import Cluster, Instance, Port
from globaldns.table.table import Table


def build(clusters: int, services: int) -> Table:
    """A table where the local cluster runs every service unready and each remote one ready."""
    table = Table(ZoneConfig(), local_cluster="cluster-000")
    ports = (Port("http", 80), Port("grpc", 9090))
    for c in range(clusters):
        name = f"cluster-{c:03d}"
        gateway = f"172.16.{c // 250}.{c % 250 + 1}"
        table.put_cluster(Cluster(name, "west" if c % 2 else "east", (gateway,)))
        for s in range(services):
            host = f"svc-{s:05d}.bench"
            table.put_instance(name, host, Instance(host, ("10.0.0.1",), int(c > 0), ports))
    table.commit()
    return table


def flip(table: Table, clusters: int, services: int, flips: int) -> list[float]:
    """Each flip: one remote cluster's instance of one host turns unready or ready, committed."""
    ports = (Port("http", 80), Port("grpc", 9090))
    costs = []
    for n in range(flips):
        cluster = f"cluster-{1 + n % (clusters - 1):03d}"
        host = f"svc-{n % services:05d}.bench"
        ready = (n // ((clusters - 1) * services)) % 2  # first pass: unready, second: ready
        started = time.perf_counter()
        table.put_instance(cluster, host, Instance(host, ("10.0.0.1",), ready, ports))
        table.commit()
        costs.append(time.perf_counter() - started)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--flips", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    table = build(args.clusters, args.services)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    costs = sorted(flip(table, args.clusters, args.services, args.flips))
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    mean = sum(costs) / len(costs)
    p50, p99 = costs[len(costs) // 2], costs[int(len(costs) * 0.99)]
    print(f"flip+commit: mean {mean * 1e3:.3f} ms, p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
