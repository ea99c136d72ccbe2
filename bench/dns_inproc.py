"""The compiled UDP loop's own CPU per query, in process, answer kind by answer kind.

dnsperf's figures (dns_bench.py) move by 20-40% between runs on a shared 2-core machine; this
times only the loop: dns_bench's mesh and question files, each sent over loopback in batches
to a socket the compiled loop drains in this process, `drain()` timed with the thread's CPU
clock (user and system time, so recvmmsg and sendmmsg count), nothing else on that clock. No
NSD here: the figure compares one tree with another (`--before DIR`, run in its own process,
alternating with this tree round by round), not servers with each other.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import dns.message

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SOCKET_BUFFER = 1 << 22
CHILD = "--child"  # a process that measures the tree at sys.path[0] and prints JSON


def measure(tree: Path, batch: int, batches: int) -> dict[str, float]:
    """CPU microseconds per query of `tree`'s compiled loop for each workload."""
    sys.path.insert(0, str(tree))
    sys.path.insert(1, str(BENCH))
    from dns_workloads import Workload, query_lines, realistic_mesh

    from globaldns.dns.responder import Responder
    from globaldns.dns.zone import ZoneConfig
    from globaldns.server import dns as transport
    from globaldns.server.counters import BOUNDS_NS, TransportCounters
    from globaldns.sources import mesh as mesh_source
    from globaldns.table.table import Table

    fast = transport.compiled_udp()
    if fast is None:
        raise SystemExit(f"{tree}: the compiled UDP loop is not built")
    mesh = realistic_mesh()
    parsed = mesh_source.parse(mesh.document, "bench")
    table = Table(ZoneConfig(), local_cluster=parsed.local_cluster)
    mesh_source.apply(parsed, None, table)
    responder = Responder(table.zone)
    server, client = _pair()
    loop = fast(
        server.fileno(),
        responder,
        lambda data, seen: responder.respond(data, True, seen),
        TransportCounters(),
        BOUNDS_NS,
    )
    found: dict[str, float] = {}
    for workload in Workload:
        if workload.is_mix:
            continue
        lines = query_lines(mesh, workload)
        packets = [_query(line) for line in lines[: batch * 8]]
        spent = 0.0
        for i in range(batches):
            for packet in packets[(i % 8) * batch : (i % 8 + 1) * batch]:
                client.send(packet)
            start = time.thread_time()
            loop.drain()
            spent += time.thread_time() - start
            for _ in range(batch):
                client.recv(65535)
        found[workload.value] = spent / (batch * batches) * 1e6
    return found


def _pair() -> tuple[socket.socket, socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.connect(server.getsockname())
    for sock in (server, client):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    return server, client


def _query(line: str) -> bytes:
    """One dnsperf question line as dnsperf -e sends it (EDNS, 4,096 bytes)."""
    name, rtype = line.split()
    return dns.message.make_query(name, rtype, use_edns=0, payload=4096).to_wire()


def _child(tree: Path, batch: int, batches: int) -> dict[str, float]:
    argv = [sys.executable, __file__, CHILD, str(tree), str(batch), str(batches)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600)
    return dict(json.loads(done.stdout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64, help="queries per drain (64: full)")
    parser.add_argument("--batches", type=int, default=400, help="drains per workload")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians are printed)")
    parser.add_argument("--before", type=Path, metavar="DIR", help="another globaldns tree")
    args = parser.parse_args(argv)
    trees = {"globaldns": REPO, **({"before": args.before} if args.before else {})}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            rounds[name].append(_child(tree, args.batch, args.batches))
    workloads = list(rounds["globaldns"][0])
    print(f"CPU us per query in process, {args.batch} per drain, medians of {args.rounds}")
    print(f"{'workload':14}" + "".join(f"{name:>11}" for name in trees))
    for workload in workloads:
        cells = [statistics.median(r[workload] for r in rounds[name]) for name in trees]
        print(f"{workload:14}" + "".join(f"{cell:11.2f}" for cell in cells))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == CHILD:
        figures = measure(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps(figures))
    else:
        sys.exit(main())
