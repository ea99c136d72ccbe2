"""globaldns and NSD serving the same `clusterset.local` zone give the same rcode, flags and
record sets, as `tests/dns/test_differential_nsd.py` checks for `global.` (its normalisation,
named there, is the same). NSD serves `globaldns table --format clusterset-zone` of the mesh."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from harness import GlobalDns
from tests.clusterset.test_answers import MESH
from tests.dns import udp_loops
from tests.dns.test_differential_nsd import TYPES, Case, exchange, normalised
from tests.dns.udp_loops import UDP_LOOPS
from tests.support import Nsd, exported_zone

ZONE = "clusterset.local"
# Every name the mesh puts in the zone, the SRV names among them, relative to the zone.
KNOWN = [
    "dns-version",
    "web.shop.svc",
    "_http._tcp.web.shop.svc",
    "api.shop.svc",
    "db.shop.svc",
    "db-0.west.db.shop.svc",
    "db-0.east.db.shop.svc",
    "_pg._tcp.db.shop.svc",
]
DERIVED = [
    "",  # the apex
    "svc",  # empty non-terminals
    "shop.svc",
    "east.db.shop.svc",
    "_tcp.db.shop.svc",
    "cold.shop.svc",  # headless with nothing ready: no name
    "private.shop.svc",  # not exported
    "x.web.shop.svc",
    "nope",
]
CORPUS_SIZE = 200


@pytest.fixture(scope="module", params=UDP_LOOPS)
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[GlobalDns, Nsd]]:
    ours = udp_loops.start(GlobalDns(MESH), request.param)
    zone = exported_zone(ours.mesh_path, "clusterset-zone")
    nsd = Nsd(ZONE, zone)
    yield ours, nsd
    nsd.stop()
    ours.stop()


def corpus() -> list[Case]:
    rng = random.Random(20261207)
    cases = []
    while len(cases) < CORPUS_SIZE:
        base = rng.choice(KNOWN if rng.random() < 0.6 else DERIVED)
        name = ".".join(part for part in (base, ZONE) if part)
        name = "".join(c.upper() if rng.random() < 0.5 else c for c in name)
        flags = (rng.random() < 0.7, rng.random() < 0.5, rng.random() < 0.25)
        cases.append(Case(name, rng.choice(TYPES), *flags))
    return cases


CASES = corpus()


@pytest.mark.parametrize("chunk", range(4))
def test_globaldns_answers_clusterset_like_nsd(servers: tuple[GlobalDns, Nsd], chunk: int) -> None:
    ours, nsd = servers
    mismatches = []
    for case in CASES[chunk::4]:
        theirs = normalised(exchange(case, nsd.port))
        for attempt in range(1 if case.tcp else 2):
            mine = normalised(exchange(case, ours.port))
            if mine != theirs:
                diff = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
                mismatches.append(f"{case} (answer {attempt + 1}): globaldns vs nsd {diff}")
    assert not mismatches, "\n".join(mismatches[:10])
