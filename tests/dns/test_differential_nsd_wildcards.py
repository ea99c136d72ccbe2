"""Wildcard ServiceEntry hosts answer as NSD serves the same zone file with its `*` records.

RFC 4592 as NSD reads it: the closest encloser's wildcard (an existing name in between stops
it), an exact name first, the wildcard's parent an empty non-terminal, NODATA below the
wildcard for a type it lacks, NXDOMAIN with the SOA where no wildcard covers. Normalised as in
`test_differential_nsd.py` (serial, order, NSD's apex NS).

The one answer NSD cannot give: SRV for a named port of the entry below a wildcard
(`_http._tcp.X.shard.global` with target `X.shard.global`), which no record of a zone file can
spell. It is compared with NSD serving the zone with that one name spelled out, as if an entry
named `X.shard.global` exactly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from harness import GlobalDns
from tests.dns import udp_loops
from tests.dns.test_differential_nsd import Case, exchange, normalised
from tests.dns.udp_loops import UDP_LOOPS
from tests.support import Nsd, exported_zone

HTTP = [{"name": "http", "port": 80, "protocol": "TCP"}]
MESH = {
    "zone": "global",
    "localCluster": "uswest2",
    "clusters": [{"name": "uswest2", "region": "west", "gateways": ["192.168.20.106"]}],
    "services": [
        {"name": "svc.shard", "ports": HTTP, "instances": {"uswest2": {"addresses": ["10.1.0.1"]}}}
    ],
    "serviceEntries": [
        {"hosts": ["*.shard.global"], "addresses": ["240.0.0.9"], "ports": HTTP},
        {"hosts": ["exact.shard.global"], "addresses": ["240.0.0.10", "fd00::10"]},
        {"hosts": ["*.exact.shard.global"], "addresses": ["240.0.0.20"]},
        {"hosts": ["leaf.mid.shard.global"], "addresses": ["240.0.0.11"]},
        {"hosts": ["*.dual.global"], "addresses": ["240.0.1.1", "fd00:1::1"], "ports": HTTP},
    ],
}
NAMES = [
    "a.shard",  # depth 1
    "x.y.z.shard",  # depth 3
    "exact.shard",  # exact beats wildcard
    "svc.shard",
    "svc-uswest2.shard",  # a pinned name, compiled when asked
    "svc-west.shard",
    "a.exact.shard",  # the wildcard under an existing name answers below it
    "a.b.exact.shard",
    "mid.shard",  # an empty non-terminal between: it stops `*.shard`
    "a.mid.shard",
    "leaf.mid.shard",
    "a.leaf.mid.shard",
    "x.svc.shard",
    "x.svc-uswest2.shard",
    "shard",  # the wildcard's parent: an empty non-terminal
    "*.shard",  # the wildcard's owner, asked literally
    "*.exact.shard",
    "a.*.shard",
    "_tcp.a.shard",
    "_http._tcp.svc.shard",
    "_http._tcp.a.shard",  # an SRV name below the wildcard: every type but SRV is NSD's
    "_grpc._tcp.a.shard",
    "_http._tcp.a.exact.shard",  # the inner wildcard names no port
    "a.dual",
    "q.r.dual",
    "dual",
    "nope",
    "a.nope",
]
TYPES = ["A", "AAAA", "SRV", "TXT", "ANY", "CNAME", "NS", "SOA"]
# SRV of a named port of the covering wildcard: the name spelled out for NSD.
SYNTHESIZED_SRV = {
    "_http._tcp.a.shard": ("a.shard", "240.0.0.9"),
    "_http._tcp.web.eu.shard": ("web.eu.shard", "240.0.0.9"),
    "_http._tcp.a.dual": ("a.dual", "240.0.1.1", "fd00:1::1"),
}


def spelled_out(zone: str) -> str:
    """The zone with each of `SYNTHESIZED_SRV` written as an exact name would be."""
    lines = []
    for owner, (target, *addresses) in SYNTHESIZED_SRV.items():
        lines.append(f"{owner} IN SRV 0 100 80 {target}.global.")
        for address in addresses:
            lines.append(f"{target} IN {'AAAA' if ':' in address else 'A'} {address}")
    return zone + "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=UDP_LOOPS)
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[GlobalDns, Nsd, Nsd]]:
    ours = udp_loops.start(GlobalDns(MESH), request.param)
    zone = exported_zone(ours.mesh_path)
    nsd, nsd_spelled = Nsd("global", zone), Nsd("global", spelled_out(zone))
    yield ours, nsd, nsd_spelled
    nsd_spelled.stop()
    nsd.stop()
    ours.stop()


def corpus() -> list[Case]:
    """Every name in every type, in random letter case, over UDP (with and without EDNS) and TCP."""
    rng = random.Random(20261207)
    cases = []
    for name in NAMES:
        for rdtype in TYPES:
            if rdtype == "SRV" and name in SYNTHESIZED_SRV:
                continue
            spelled = "".join(c.upper() if rng.random() < 0.5 else c for c in f"{name}.global")
            cases.append(Case(spelled, rdtype, rng.random() < 0.7, rng.random() < 0.5, False))
            cases.append(Case(spelled, rdtype, True, True, True))
    return cases


CASES = corpus()


def differences(cases: list[Case], ours: GlobalDns, nsd: Nsd) -> list[str]:
    """Each case whose answer differs, for both of ours over UDP (the second from the memo)."""
    found = []
    for case in cases:
        theirs = normalised(exchange(case, nsd.port))
        for attempt in range(1 if case.tcp else 2):
            mine = normalised(exchange(case, ours.port))
            if mine != theirs:
                diff = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
                found.append(f"{case} (answer {attempt + 1}): globaldns vs nsd {diff}")
    return found


@pytest.mark.parametrize("chunk", range(4))
def test_wildcards_answer_like_nsd(servers: tuple[GlobalDns, Nsd, Nsd], chunk: int) -> None:
    ours, nsd, _ = servers
    mismatches = differences(CASES[chunk::4], ours, nsd)
    assert not mismatches, "\n".join(mismatches[:10])


@pytest.mark.parametrize("owner", sorted(SYNTHESIZED_SRV))
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_wildcard_srv_answers_as_nsd_answers_the_name_spelled_out(
    servers: tuple[GlobalDns, Nsd, Nsd], owner: str, tcp: bool
) -> None:
    ours, _, nsd_spelled = servers
    cases = [Case(f"{owner.upper()}.global", "SRV", edns, True, tcp) for edns in (False, True)]
    mismatches = differences(cases, ours, nsd_spelled)
    assert not mismatches, "\n".join(mismatches)


def test_the_corpus_asks_every_case_of_the_wildcard_zone() -> None:
    assert len({c.name.lower() for c in CASES}) == len(NAMES)
    assert any(c.name != c.name.lower() for c in CASES)
