"""Issue 15.4 numbers: what hostile DNS-over-TCP clients at the caps cost the server.

For each pattern a fresh `globaldns serve` (default limits) takes as many hostile connections as
it admits: `--tcp-max-connections` of them, from as many loopback addresses as the
per-address cap requires. The bench records the server's resident memory (VmRSS) before and
with them all held, the kernel memory of its sockets (`ss -tm`: receive queue, write queue and
forward allocation, summed over the server's side), whether other clients are still served
(UDP, and TCP from yet another address), how long until the idle timeout has closed them, and
the resident memory then.

    unread    each pipelines queries with 1.6 KB answers and never reads one
    partial   each announces a 65,535-byte message, sends all of it but one byte, and stalls

    python bench/tcp_bench.py
"""

from __future__ import annotations

import argparse
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import dns.message  # noqa: E402
import dns.query  # noqa: E402

from globaldns.server.tcp import TcpLimits  # noqa: E402
from harness import GlobalDns, rss_mib, wait_for  # noqa: E402
from harness.meshes import MESH  # noqa: E402

BIG = dns.message.make_query("big.global", "A").to_wire()  # 100 addresses: 1.6 KB answers
PATTERNS = ("unread", "partial")
SKMEM = re.compile(r"skmem:\(r(\d+),rb\d+,t\d+,tb\d+,f(\d+),w(\d+),")


def hostile_payload(pattern: str) -> bytes:
    if pattern == "unread":
        return (struct.pack(">H", len(BIG)) + BIG) * 20_000
    return struct.pack(">H", 65535) + bytes(65534)


def kernel_mib(port: int) -> tuple[float, int]:
    """Kernel memory held by the server's side of its TCP connections, and how many there are."""
    out = subprocess.run(
        ["ss", "-tmnH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    held = [sum(map(int, m.groups())) for m in SKMEM.finditer(out)]
    return sum(held) / 2**20, len(held)


def open_hostile(server: GlobalDns, limits: TcpLimits) -> list[socket.socket]:
    """`limits.connections` connections, `limits.per_address` from each of 127.0.2.x; small
    client-side buffers, so the server's side fills and this process stays small."""
    socks = []
    for i in range(limits.connections):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        sock.bind((f"127.0.2.{i // limits.per_address + 1}", 0))
        sock.settimeout(3)
        sock.connect(("127.0.0.1", server.port))
        sock.setblocking(False)
        socks.append(sock)
    return socks


def push_all(socks: list[socket.socket], payload: bytes, stall: float) -> None:
    """Send `payload` on every socket, never reading, until no socket has taken a byte for
    `stall` seconds (or all is sent)."""
    sent = [0] * len(socks)
    progress = time.monotonic()
    while time.monotonic() - progress < stall:
        moved = False
        for i, sock in enumerate(socks):
            if sent[i] < len(payload):
                try:
                    sent[i] += sock.send(payload[sent[i] : sent[i] + 65536])
                    moved = True
                except BlockingIOError:
                    pass
        if moved:
            progress = time.monotonic()
        elif all(n == len(payload) for n in sent):
            break
        else:
            time.sleep(0.01)


def others_served(server: GlobalDns) -> tuple[float, str]:
    """Milliseconds a UDP answer takes now, and what a TCP client from a new address gets."""
    started = time.monotonic()
    server.ask("foo.global")
    udp_ms = (time.monotonic() - started) * 1000
    try:
        dns.query.tcp(
            dns.message.make_query("foo.global", "A"),
            "127.0.0.1",
            port=server.port,
            timeout=2,
            source="127.0.3.1",
        )
        tcp = "answered"
    except (EOFError, ConnectionError):
        tcp = "refused (at the cap)"
    return udp_ms, tcp


def run(pattern: str, limits: TcpLimits) -> dict[str, str]:
    server = GlobalDns(MESH).start()
    try:
        assert server.process is not None
        pid = server.process.pid
        server.ask("foo.global", tcp=True)  # warm the TCP path before the baseline
        time.sleep(0.5)
        before = rss_mib(pid)
        socks = open_hostile(server, limits)
        push_all(socks, hostile_payload(pattern), stall=1.0)
        held_at = time.monotonic()
        time.sleep(1)  # the server takes in what the kernel holds for it
        rss = rss_mib(pid)
        kernel, count = kernel_mib(server.port)
        udp_ms, tcp = others_served(server)
        wait_for(
            lambda: server.metric("globaldns_tcp_connections") == 0,
            limits.idle + 10,
            0.2,
            "the idle timeout to close the hostile connections",
        )
        closed_after = time.monotonic() - held_at
        for sock in socks:
            sock.close()
        after = rss_mib(pid)
        return {
            "pattern": pattern,
            "connections": str(count),
            "RSS before MiB": f"{before:.1f}",
            "RSS held MiB": f"{rss:.1f} (+{rss - before:.1f})",
            "kernel MiB": f"{kernel:.1f}",
            "per connection KiB": f"{(rss - before + kernel) * 1024 / max(count, 1):.0f}",
            "UDP answer ms": f"{udp_ms:.1f}",
            "new TCP client": tcp,
            "all closed after s": f"{closed_after:.1f}",
            "RSS after MiB": f"{after:.1f}",
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", nargs="+", choices=PATTERNS, default=list(PATTERNS))
    args = parser.parse_args()
    limits = TcpLimits()
    rows = [run(pattern, limits) for pattern in args.patterns]
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(row.values()) + " |")


if __name__ == "__main__":
    main()
