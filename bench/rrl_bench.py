"""Issue 20.8 numbers: what response-rate limiting leaves a flooding source, and that a client at
a normal rate never meets it.

Each run starts `globaldns serve --rrl-rate RATE` on the example mesh and drives it over UDP
from one source address:

    flood     one name asked as fast as the sender can (as a reflection attack would, with
              the victim's address); replies counted whole, truncated (slipped) and missing,
              and bytes out per byte in (the amplification the server lends)
    coredns   one forwarder (CoreDNS) asking each of the mesh's names in turn at `--normal`
              queries a second, as a cluster's CoreDNS with its cache does, every name again
              after it expires; every reply must come back whole

    python bench/rrl_bench.py
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import dns.flags  # noqa: E402
import dns.message  # noqa: E402

from harness import GlobalDns  # noqa: E402

SERVICES = 500
# The amplifier: a name of 70 addresses answers a 39-byte query with 1.2 KB.
MESH = {
    "localCluster": "a",
    "clusters": [{"name": "a", "region": "r", "gateways": ["192.0.2.1"]}],
    "services": [
        {"name": "wide", "instances": {"a": {"addresses": [f"10.9.0.{i}" for i in range(70)]}}}
    ]
    + [
        {"name": f"s{i}.team", "instances": {"a": {"addresses": [f"10.{i // 250}.{i % 250}.1"]}}}
        for i in range(SERVICES)
    ],
}


def drive(server: GlobalDns, queries: list[bytes], rate: float) -> dict[str, float]:
    """Send `queries` at `rate` a second (0: as fast as possible) from 127.0.3.1, reading
    replies as they come; count whole, truncated and missing replies and bytes each way."""
    counts = {"sent": 0.0, "whole": 0.0, "truncated": 0.0, "bytes_in": 0.0, "bytes_out": 0.0}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        client.bind(("127.0.3.1", 0))
        client.setblocking(False)
        start = time.perf_counter()
        for i, query in enumerate(queries):
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            try:
                client.sendto(query, ("127.0.0.1", server.port))
            except BlockingIOError:
                continue
            counts["sent"] += 1
            counts["bytes_in"] += len(query)
            _read(client, counts)
        counts["seconds"] = time.perf_counter() - start
        deadline = time.perf_counter() + 1.0
        while time.perf_counter() < deadline:
            _read(client, counts)
            time.sleep(0.01)
    counts["missing"] = counts["sent"] - counts["whole"] - counts["truncated"]
    return counts


def _read(client: socket.socket, counts: dict[str, float]) -> None:
    while True:
        try:
            wire = client.recv(65535)
        except BlockingIOError:
            return
        counts["bytes_out"] += len(wire)
        flags = int.from_bytes(wire[2:4], "big")
        counts["truncated" if flags & dns.flags.TC else "whole"] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=20, help="--rrl-rate of the server")
    parser.add_argument("--slip", type=int, default=2, help="--rrl-slip of the server")
    parser.add_argument("--flood", type=int, default=20_000, help="queries of the flood run")
    parser.add_argument("--normal", type=float, default=200.0, help="qps of the coredns run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the coredns run")
    args = parser.parse_args()
    flags = ["--rrl-rate", str(args.rate), "--rrl-slip", str(args.slip)]
    server = GlobalDns(MESH, args=flags).start()
    try:
        wide = dns.message.make_query("wide.global", "A", use_edns=0).to_wire()
        flood = drive(server, [wide] * args.flood, 0)
        names = [f"s{i}.team.global" for i in range(SERVICES)]
        count = int(args.normal * args.seconds)
        normal = [
            dns.message.make_query(names[i % len(names)], ("A", "AAAA")[i // len(names) % 2])
            for i in range(count)
        ]
        coredns = drive(server, [q.to_wire() for q in normal], args.normal)
        limited = server.metric('globaldns_rrl_limited_replies_total{action="dropped"}')
    finally:
        server.stop()
    rate = flood["sent"] / flood["seconds"]
    print(f"server: --rrl-rate {args.rate} --rrl-slip {args.slip}")
    print(
        f"flood:   {flood['sent']:,.0f} queries for wide.global at {rate:,.0f}/s over "
        f"{flood['seconds']:.2f} s: {flood['whole']:,.0f} whole replies, "
        f"{flood['truncated']:,.0f} truncated, {flood['missing']:,.0f} dropped; "
        f"{flood['bytes_out'] / flood['bytes_in']:.2f} bytes out per byte in"
    )
    print(
        f"coredns: {coredns['sent']:,.0f} queries over {len(names)} names at {args.normal:g}/s "
        f"for {coredns['seconds']:.1f} s: {coredns['whole']:,.0f} whole, "
        f"{coredns['truncated']:,.0f} truncated, {coredns['missing']:,.0f} missing "
        f"(server's dropped count over both runs: {limited:,.0f})"
    )
    return 0 if coredns["whole"] == coredns["sent"] else 1


if __name__ == "__main__":
    sys.exit(main())
