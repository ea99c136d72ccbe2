"""globaldns and NSD serving the same zone give the same rcode, flags and record sets.

NSD serves `globaldns table --format zone` of the same mesh. Differences that are the two
servers' own business are normalised away, and each is named here: the SOA serial (each server
numbers its own zone), record order (globaldns rotates), and the apex NS that NSD without
minimal-responses adds to the authority section of positive answers (globaldns answers
minimally; NSD's minimal-responses would also drop the SRV additional data we want compared).
"""

from __future__ import annotations

import random
import subprocess
import sys
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
from tests.dns import udp_loops
from tests.dns.udp_loops import UDP_LOOPS
from tests.support import REPO, GlobalDns, Nsd

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
    zone = subprocess.run(
        [
            sys.executable,
            "-m",
            "globaldns",
            "table",
            "--format",
            "zone",
            "--mesh",
            str(ours.mesh_path),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout
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
