"""A steady flood of malformed DNS packets, made before the first one is sent.

Run: `python bench/peers/flood.py PORT RATE SECONDS` (UDP to 127.0.0.1). Sends RATE packets per
second in chunks of one millisecond's worth, paced by the clock, never in catch-up bursts (see
BENCH-NOTES: generating while sending makes bursts that overflow the server's socket buffer and
reads as lost queries). Prints one JSON line: packets sent and the achieved rate.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import time

# A valid query (`foo.global A`, EDNS) the mutations start from.
VALID = bytes.fromhex(
    "1234010000010000000000010373766306676c6f62616c00000100010000291000000000000000"
)
KINDS = 5
POOL = 20_000
TICK = 0.001


def garbage(rng: random.Random, kind: int) -> bytes:
    """One packet of each kind a fuzzer or a broken client sends."""
    if kind == 0:  # shorter than a header: dropped
        return rng.randbytes(rng.randrange(12))
    if kind == 1:  # a response (QR set): never answered
        packet = bytearray(VALID)
        packet[2] |= 0x80
        return bytes(packet)
    if kind == 2:  # a valid query with bytes flipped
        packet = bytearray(VALID)
        for _ in range(rng.randrange(1, 7)):
            packet[rng.randrange(len(packet))] = rng.randrange(256)
        return bytes(packet)
    if kind == 3:  # a query header over random bytes
        return VALID[:12] + rng.randbytes(rng.randrange(1, 100))
    return rng.randbytes(rng.randrange(12, 600))  # plain random bytes


def main(argv: list[str]) -> int:
    port, rate, seconds = int(argv[0]), int(argv[1]), float(argv[2])
    rng = random.Random(10)
    pool = [garbage(rng, i % KINDS) for i in range(POOL)]
    per_tick = max(1, round(rate * TICK))
    chunks = [pool[i : i + per_tick] for i in range(0, POOL - per_tick + 1, per_tick)]
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # replies are not read
        sock.connect(("127.0.0.1", port))
        send = sock.send
        start = time.perf_counter()
        tick = start
        while tick - start < seconds:
            for packet in chunks[sent // per_tick % len(chunks)]:
                try:
                    send(packet)
                except OSError:  # e.g. ECONNREFUSED from an earlier ICMP error
                    continue
            sent += per_tick
            tick += TICK
            pause = tick - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        elapsed = time.perf_counter() - start
    print(json.dumps({"sent": sent, "rate": sent / elapsed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
