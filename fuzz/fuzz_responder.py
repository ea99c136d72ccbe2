"""Fuzz the responder: any packet gets a reply that keeps the contract, or none, never an error.

The zone is compiled once at import from examples/mesh.yaml plus one name too big for 512
bytes but not for 1232 (so the EDNS size decides truncation) and a wildcard `*.shard`; each
input is then answered over UDP twice (the second time from the memo of recent questions) and
once over TCP.
Checked: no exception; no reply exactly when the packet is shorter than a header or is itself
a reply (QR=1); the reply's id is the query's and its QR bit is set; a UDP reply fits 512
bytes without EDNS, and the advertised size (at least 512, at most 1232) with it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["globaldns"]):
    from globaldns.dns.responder import Responder
    from globaldns.dns.zone import ZoneConfig
    from globaldns.sources import mesh
    from globaldns.table.model import Entry, Instance, Port
    from globaldns.table.table import Table

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mesh.yaml"
HEADER = 12
QR = 0x80
PLAIN_UDP = 512
EDNS_UDP_CAP = 1232
TCP_MAX = 65535


def build() -> Responder:
    """A responder over the example mesh and a name whose 50 addresses (800 bytes) need EDNS."""
    parsed = mesh.load(EXAMPLE)
    table = Table(ZoneConfig(), local_cluster=parsed.local_cluster)
    mesh.apply(parsed, None, table)
    local = parsed.local_cluster or parsed.clusters[0].name
    many = tuple(f"10.1.{i // 250}.{i % 250}" for i in range(50))
    table.put_instance(local, "big", Instance("big", many, 1))
    wild = Entry(("*.shard",), ("240.0.0.9", "fd00::9"), (Port("http", 80),))
    table.put_entry(local, "wild", wild)  # names below shard.global answered on the miss path
    table.commit()
    return Responder(table.zone)


RESPONDER = build()


def advertised(packet: bytes) -> int | None:
    """The EDNS payload size a query offers, read independently of the responder; None without.

    Looser than the responder's own parse, so a limit it finds is never smaller than the one the
    responder applies.
    """
    if len(packet) < HEADER or packet[10:12] != b"\x00\x01":
        return None
    i = HEADER
    while i < len(packet) and packet[i]:
        i += packet[i] + 1
    opt = i + 1 + 4  # past the root label, the type and the class
    if len(packet) < opt + 5 or packet[opt : opt + 3] != b"\x00\x00\x29":
        return None
    return packet[opt + 3] << 8 | packet[opt + 4]


def udp_limit(packet: bytes) -> int:
    offered = advertised(packet)
    return PLAIN_UDP if offered is None else max(PLAIN_UDP, min(offered, EDNS_UDP_CAP))


def check(packet: bytes, reply: bytes | None, limit: int) -> None:
    dropped = len(packet) < HEADER or bool(packet[2] & QR)
    if dropped:
        assert reply is None, f"replied to a packet that must be dropped: {reply!r}"
        return
    assert reply is not None, "no reply to a query"
    assert reply[:2] == packet[:2], "the reply's id is not the query's"
    assert reply[2] & QR, "the reply's QR bit is clear"
    assert len(reply) <= limit, f"a reply of {len(reply)} bytes over a limit of {limit}"


def TestOneInput(data: bytes) -> None:
    limit = udp_limit(data)
    check(data, RESPONDER.respond(data, True), limit)
    check(data, RESPONDER.respond(data, True), limit)  # now perhaps from the memo
    check(data, RESPONDER.respond(data, False), TCP_MAX)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
