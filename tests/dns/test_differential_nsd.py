"""globaldns and NSD serving the same zone give the same rcode, flags and record sets.

NSD serves `globaldns table --format zone` of the same mesh. Differences that are the two
servers' own business are normalised away, and each is named here: the SOA serial (each server
numbers its own zone), record order (globaldns rotates), and the apex NS that NSD without
minimal-responses adds to the authority section of positive answers (globaldns answers
minimally; NSD's minimal-responses would also drop the SRV additional data we want compared).
"""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.rrset
import pytest
import yaml

from globaldns.dns.zone import ZoneConfig
from globaldns.sources import mesh as mesh_source
from globaldns.table.table import Table
from harness import REPO, GlobalDns
from tests.dns import udp_loops
from tests.dns.udp_loops import UDP_LOOPS
from tests.support import Nsd, exported_zone, udp_raw

MESH = yaml.safe_load((REPO / "examples" / "mesh.yaml").read_text())
MESH["services"].append(
    {
        "name": "wide.team",
        "ports": [
            {"name": "grpc", "port": 9000, "protocol": "TCP"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
        ],
        "instances": {
            "uswest2": {
                "addresses": [f"10.5.0.{i}" for i in range(1, 41)] + ["fd00:5::1"],
                "ready": 1,
            }
        },
    }
)
# SRV additional data that fits only in part: the 20 A records fit, the 40 AAAA do not.
MESH["services"].append(
    {
        "name": "mixed.team",
        "ports": [{"name": "grpc", "port": 9000, "protocol": "TCP"}],
        "instances": {
            "uswest2": {
                "addresses": [f"10.6.0.{i}" for i in range(1, 21)]
                + [f"fd00:6::{i:x}" for i in range(1, 41)],
                "ready": 1,
            }
        },
    }
)
TYPES = ["A", "AAAA", "SRV", "TXT", "MX", "ANY", "SOA", "NS", "CNAME"]
CORPUS_SIZE = 400


@dataclass(frozen=True)
class Case:
    name: str
    rdtype: str
    edns: bool
    rd: bool
    tcp: bool

    def message(self) -> dns.message.Message:
        query = dns.message.make_query(self.name, self.rdtype, use_edns=0 if self.edns else False)
        if not self.rd:
            query.flags &= ~dns.flags.RD
        return query


@pytest.fixture(scope="module", params=UDP_LOOPS)
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[GlobalDns, Nsd]]:
    ours = udp_loops.start(GlobalDns(MESH), request.param)
    zone = exported_zone(ours.mesh_path)
    nsd = Nsd("global", zone)
    yield ours, nsd
    nsd.stop()
    ours.stop()


def existing_names() -> list[str]:
    """Every name the table holds for MESH, SRV names included, relative to the zone."""
    table = Table(ZoneConfig(), local_cluster=MESH["localCluster"])
    mesh_source.apply(mesh_source.parse(MESH, "MESH"), None, table)
    names = []
    for view in table.views():
        names.append(view.name)
        names.extend(f"_{p.name}._{p.protocol.lower()}.{view.name}" for p in view.ports if p.name)
    return sorted(names)


def corpus() -> list[Case]:
    rng = random.Random(20261125)
    known = existing_names()
    derived = (
        ["", "team", "bar", "_tcp.foo", "db"]  # apex and empty non-terminals
        + [f"nope{i}" for i in range(5)]
        + [f"x.{n}" for n in known[:8]]  # below existing names
    )
    out_of_zone = ["example.com", "global.example", "xglobal", "foo.globa1", "."]
    cases: list[Case] = []
    while len(cases) < CORPUS_SIZE:
        pick = rng.random()
        if pick < 0.6:
            base = rng.choice(known) + ".global"
        elif pick < 0.9:
            base = ".".join(p for p in (rng.choice(derived), "global") if p)
        else:
            base = rng.choice(out_of_zone)
        name = "".join(c.upper() if rng.random() < 0.5 else c for c in base)
        cases.append(
            Case(
                name, rng.choice(TYPES), rng.random() < 0.7, rng.random() < 0.5, rng.random() < 0.25
            )
        )
    return cases


def exchange(case: Case, port: int) -> dns.message.Message:
    query = case.message()
    if case.tcp:
        return dns.query.tcp(query, "127.0.0.1", port=port, timeout=3)
    return dns.query.udp(query, "127.0.0.1", port=port, timeout=3)


def normalised(reply: dns.message.Message) -> dict[str, object]:
    def rrsets(section: list[dns.rrset.RRset]) -> set[str]:
        out = set()
        for rrset in section:
            for rr in rrset:
                text = rr.to_text().lower()  # names in data compare case-insensitively
                if rrset.rdtype == dns.rdatatype.SOA:
                    parts = text.split()
                    parts[2] = "SERIAL"
                    text = " ".join(parts)
                out.add(f"{rrset.name.to_text().lower()} {rrset.ttl} {rrset.rdtype} {text}")
        return out

    authority = reply.authority
    tsig = reply.tsig.to_text() if reply.tsig is not None else None  # fully echoed: no clock
    if reply.answer:
        authority = [r for r in authority if r.rdtype != dns.rdatatype.NS]
    return {
        "rcode": reply.rcode(),
        "flags": dns.flags.to_text(reply.flags),
        "edns": (reply.edns, reply.payload if reply.edns >= 0 else None),
        "question": [q.to_text() for q in reply.question],
        "answer": rrsets(reply.answer),
        "authority": rrsets(authority),
        "additional": rrsets(reply.additional),
        "tsig": tsig,
    }


CASES = corpus()


@pytest.mark.parametrize("chunk", range(8))
def test_globaldns_answers_like_nsd(servers: tuple[GlobalDns, Nsd], chunk: int) -> None:
    ours, nsd = servers
    part = CASES[chunk::8]
    mismatches = []
    for case in part:
        theirs = normalised(exchange(case, nsd.port))
        # Over UDP the second answer comes from the memo of recent questions.
        for attempt in range(1 if case.tcp else 2):
            mine = normalised(exchange(case, ours.port))
            if mine != theirs:
                diff = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
                mismatches.append(f"{case} (answer {attempt + 1}): globaldns vs nsd {diff}")
    assert not mismatches, "\n".join(mismatches[:10])


def test_corpus_covers_every_kind_of_question() -> None:
    kinds = {(c.rdtype, c.edns, c.rd, c.tcp) for c in CASES}
    assert {c.rdtype for c in CASES} == set(TYPES)
    assert len(kinds) > 60
    assert any(c.name.lower().startswith("x.") for c in CASES)
    assert any(not c.name.lower().rstrip(".").endswith("global") for c in CASES)


# -- rcodes as NSD gives them: packets a monitoring system, an operator or an attacker sends ----
def _with_counts(packet: bytes, an: int | None = None, ns: int | None = None, ar: int = 0) -> bytes:
    """`packet` with its section counts rewritten (records were appended by hand)."""
    qd, an0, ns0 = struct.unpack(">HHH", packet[4:10])
    counts = struct.pack(">HHHH", qd, an0 if an is None else an, ns0 if ns is None else ns, ar)
    return packet[:4] + counts + packet[12:]


def _tsig(key: bytes = b"\x05NoKey\x00", other: bytes = b"") -> bytes:
    """A TSIG record (RFC 8945 §4.2) signed with a key nobody configured: the MAC is junk, the
    time fixed, so the reply (which echoes it) is the same from both servers."""
    rdata = (
        b"\x0bhmac-sha256\x00"
        + (1_000_000).to_bytes(6, "big")
        + (300).to_bytes(2, "big")
        + (32).to_bytes(2, "big")
        + b"\x01" * 32
        + b"\x12\x34\x00\x00"
        + len(other).to_bytes(2, "big")
        + other
    )
    return key + b"\x00\xfa\x00\xff\x00\x00\x00\x00" + len(rdata).to_bytes(2, "big") + rdata


def _query(name: str, rdtype: str, edns: bool = False, rdclass: str = "IN") -> bytes:
    return dns.message.make_query(
        name, rdtype, rdclass=rdclass, use_edns=0 if edns else False
    ).to_wire()


_OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00"
_SOA = b"\xc0\x0c\x00\x06\x00\x01\x00\x00\x00\x00\x00\x16\x01a\x00\x01b\x00" + bytes(20)
_A = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\x0a\x00\x00\x01"
RCODE_CASES: dict[str, bytes] = {
    # RFC 8945 §5.2: an unknown key is NOTAUTH with an unsigned TSIG saying BADKEY.
    "tsig with an unknown key": _with_counts(_query("foo.global", "A") + _tsig(), ar=1),
    "tsig with an unknown key and edns": _with_counts(
        _query("foo.global", "A") + _OPT + b"\x00\x00" + _tsig(), ar=2
    ),
    "tsig key name compressed": _with_counts(_query("foo.global", "A") + _tsig(b"\xc0\x0c"), ar=1),
    "tsig with other data": _with_counts(_query("nope.global", "A") + _tsig(other=b"xyz"), ar=1),
    "tsig out of zone": _with_counts(_query("example.com", "A") + _tsig(), ar=1),
    "tsig before the opt": _with_counts(
        _query("foo.global", "A") + _tsig() + _OPT + b"\x00\x00", ar=2
    ),
    # An IXFR carries the client's SOA in the authority section (RFC 1995 §3).
    "ixfr with its soa": _with_counts(_query("global", "IXFR") + _SOA, ns=1),
    "ixfr with its soa and edns": _with_counts(
        _query("global", "IXFR") + _SOA + _OPT + b"\x00\x00", ns=1, ar=1
    ),
    "authority records in a query": _with_counts(_query("foo.global", "A") + _SOA, ns=1),
    "answer records in a query": _with_counts(_query("foo.global", "A") + _A, an=1),
    # RFC 6891 §7: the OPT stays in transfer replies.
    "axfr with edns": _query("global", "AXFR", edns=True),
    "ixfr with edns": _query("global", "IXFR", edns=True),
    # QCLASS ANY: the IN data, AA clear.
    "class any a": _query("foo.global", "A", True, "ANY"),
    "class any srv": _query("_http._tcp.foo.global", "SRV", True, "ANY"),
    "class any missing name": _query("nope.global", "A", True, "ANY"),
    "class any missing type": _query("foo.global", "TXT", True, "ANY"),
    "class any apex any": _query("global", "ANY", False, "ANY"),
    "class any out of zone": _query("example.com", "A", True, "ANY"),
    # EDNS options must tile the OPT's data.
    "edns option past the opt data": _query("foo.global", "A", True)[:-2]
    + b"\x00\x04\x00\x0a\x00\x08",
    "edns option header cut short": _query("foo.global", "A", True)[:-2] + b"\x00\x03\x00\x0a\x00",
    "edns cookie": _query("foo.global", "A", True)[:-2] + b"\x00\x0c\x00\x0a\x00\x08" + bytes(8),
    # A query carries no rcode.
    "rcode bits in a query": bytes((*_query("foo.global", "A")[:3], 0x03))
    + _query("foo.global", "A")[4:],
    "rcode bits out of zone": bytes((*_query("example.com", "A", True)[:3], 0x05))
    + _query("example.com", "A", True)[4:],
}


def _exchange_raw(packet: bytes, port: int, tcp: bool) -> dns.message.Message | None:
    """The reply to a hand-made packet, parsed (its TSIG read, not verified)."""
    if tcp:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(struct.pack(">H", len(packet)) + packet)
            return dns.query.receive_tcp(sock, expiration=None, keyring=False)[0]
    reply = udp_raw(port, packet)
    return None if reply is None else dns.message.from_wire(reply, keyring=False)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("case", sorted(RCODE_CASES))
def test_rcodes_are_those_nsd_gives(servers: tuple[GlobalDns, Nsd], case: str, tcp: bool) -> None:
    ours, nsd = servers
    packet = RCODE_CASES[case]
    theirs = _exchange_raw(packet, nsd.port, tcp)
    assert theirs is not None
    for attempt in range(1 if tcp else 2):  # over UDP the second may come from the memo
        mine = _exchange_raw(packet, ours.port, tcp)
        assert mine is not None, f"no reply (answer {attempt + 1})"
        assert normalised(mine) == normalised(theirs), f"answer {attempt + 1}"


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("edns", [False, True], ids=["plain", "edns"])
def test_srv_additional_data_is_cut_by_whole_rrsets_as_nsd_cuts_it(
    servers: tuple[GlobalDns, Nsd], edns: bool, tcp: bool
) -> None:
    ours, nsd = servers
    case = Case("_grpc._tcp.mixed.team.global", "SRV", edns, True, tcp)
    theirs = normalised(exchange(case, nsd.port))
    for attempt in range(1 if tcp else 2):
        mine = normalised(exchange(case, ours.port))
        assert mine == theirs, f"answer {attempt + 1}"
    if edns and not tcp:  # RFC 2181 §9: the A set whole, the AAAA set left out
        kinds = [rr.split()[2] for rr in mine["additional"]]  # type: ignore[attr-defined]
        assert kinds.count("1") == 20 and "28" not in kinds
