"""What dns_bench asks: a mesh with realistic answer sizes, and one question file per workload.

A workload is either one answer kind alone (every question gets the same kind of answer, so
CPU per query can be pinned on that kind) or a mix of kinds as a client population sends them.
The mesh is issue 21's realistic one: 179 services; of the distinct A questions asked, 89
answer one address, 37 two to five (rotated on every answer) and 2 forty; the mixes are 90% A
hits, 5% AAAA NODATA (v4-only names) and 5% NXDOMAIN.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Any

QUERY_LINES = 10_000
LOCAL_CLUSTER = "uswest2"
CLUSTERS = [
    {"name": "uswest2", "region": "west", "gateways": ["192.168.20.106"]},
    {"name": "uswest1", "region": "west", "gateways": ["192.168.21.4"]},
    {"name": "useast2", "region": "east", "gateways": ["192.168.30.7", "fd00:30::7"]},
]
ONE_ADDRESS = 89  # names asked A, one address each
NODATA_ONLY = 51  # one-address names asked AAAA only (NODATA), so the mesh has 179 names
ROTATED = 37  # names of two to five addresses, rotated on every answer
FORTY = 2  # names of forty addresses
NXDOMAIN_NAMES = 40


RANDOM_CASE = "-0x20"  # a workload's suffix when every line has its own letter case


class Workload(enum.StrEnum):
    """One answer kind alone, or a mix; each as sent and in random case (DNS 0x20)."""

    NXDOMAIN = "nxdomain"
    NXDOMAIN_0X20 = "nxdomain-0x20"
    NODATA = "nodata"
    NODATA_0X20 = "nodata-0x20"
    ONE = "one"
    ONE_0X20 = "one-0x20"
    ROTATED = "rotated"
    ROTATED_0X20 = "rotated-0x20"
    FORTY = "forty"
    FORTY_0X20 = "forty-0x20"
    SRV = "srv"
    SRV_0X20 = "srv-0x20"
    MIX = "mix"
    MIX_0X20 = "mix-0x20"

    @property
    def kind(self) -> Workload:
        """The answer kind (or mix) asked, whatever the letter case."""
        return Workload(self.value.removesuffix(RANDOM_CASE))

    @property
    def random_case(self) -> bool:
        return self.value.endswith(RANDOM_CASE)

    @property
    def is_mix(self) -> bool:
        return self.kind is Workload.MIX


@dataclass(frozen=True)
class Expected:
    """A question of a workload and what a correct server answers (dig's view of the reply)."""

    name: str
    rtype: str
    rcode: str
    answers: frozenset[str]


@dataclass(frozen=True)
class Mesh:
    """The mesh file's contents and the questions of each kind against it."""

    document: dict[str, Any]
    questions: dict[Workload, list[str]]  # "name TYPE" lines of each single-kind workload
    samples: list[Expected]  # one checked question per single-kind workload


def _service(name: str, addresses: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "ports": [{"name": "http", "port": 80}],
        "instances": {LOCAL_CLUSTER: {"addresses": addresses, "ready": 1}},
    }


def _addresses(first: int, count: int) -> list[str]:
    return [
        f"10.{100 + (first + i) // 65536}.{(first + i) // 256 % 256}.{(first + i) % 256}"
        for i in range(count)
    ]


def realistic_mesh() -> Mesh:
    """Issue 21's mesh: local services of one, two to five (cycling) and forty addresses."""
    sizes = (
        [("one", 1)] * ONE_ADDRESS
        + [("v4only", 1)] * NODATA_ONLY
        + [("pool", 2 + i % 4) for i in range(ROTATED)]
        + [("wide", 40)] * FORTY
    )
    services: list[dict[str, Any]] = []
    hosts: dict[str, list[str]] = {kind: [] for kind in ("one", "v4only", "pool", "wide")}
    expected: dict[str, frozenset[str]] = {}
    next_address = 0
    for i, (kind, size) in enumerate(sizes):
        name = f"{kind}-{i:03d}.ns-{i % 12:02d}"
        addresses = _addresses(next_address, size)
        next_address += size
        services.append(_service(name, addresses))
        hosts[kind].append(f"{name}.global")
        expected[f"{name}.global"] = frozenset(addresses)
    missing = [
        f"missing-{k}.global" if k % 2 else f"gone-{k}.ns-{k % 12:02d}.global"
        for k in range(NXDOMAIN_NAMES)
    ]
    questions = {
        Workload.NXDOMAIN: [f"{name} A" for name in missing],
        Workload.NODATA: [f"{name} AAAA" for name in hosts["v4only"]],
        Workload.ONE: [f"{name} A" for name in hosts["one"]],
        Workload.ROTATED: [f"{name} A" for name in hosts["pool"]],
        Workload.FORTY: [f"{name} A" for name in hosts["wide"]],
        Workload.SRV: [f"_http._tcp.{name} SRV" for name in hosts["one"]],
    }
    one = hosts["one"][0]
    samples = [
        Expected(missing[0], "A", "NXDOMAIN", frozenset()),
        Expected(hosts["v4only"][0], "AAAA", "NOERROR", frozenset()),
        Expected(hosts["one"][0], "A", "NOERROR", expected[hosts["one"][0]]),
        Expected(hosts["pool"][0], "A", "NOERROR", expected[hosts["pool"][0]]),
        Expected(hosts["wide"][0], "A", "NOERROR", expected[hosts["wide"][0]]),
        Expected(f"_http._tcp.{one}", "SRV", "NOERROR", frozenset({f"{one}."})),
    ]
    document = {
        "zone": "global",
        "ttl": 5,
        "localCluster": LOCAL_CLUSTER,
        "clusters": CLUSTERS,
        "services": services,
    }
    return Mesh(document, questions, samples)


def query_lines(mesh: Mesh, workload: Workload, seed: int = 1) -> list[str]:
    """`QUERY_LINES` questions of one workload; a mix shuffled; a 0x20 workload in random case.

    A mix is 90% A hits spread evenly over every name asked A (one, rotated and forty address
    names alike), 5% AAAA NODATA and 5% NXDOMAIN.
    """
    rng = random.Random(seed)
    lines = _mixed(mesh, rng) if workload.is_mix else _alone(mesh, workload.kind)
    if workload.random_case:
        lines = [_random_case(rng, name) + " " + rtype for name, rtype in map(str.split, lines)]
    return lines


def _alone(mesh: Mesh, kind: Workload) -> list[str]:
    pool = mesh.questions[kind]
    return [pool[i % len(pool)] for i in range(QUERY_LINES)]


def _mixed(mesh: Mesh, rng: random.Random) -> list[str]:
    hits = [
        line
        for kind in (Workload.ONE, Workload.ROTATED, Workload.FORTY)
        for line in mesh.questions[kind]
    ]
    nodata, nxdomain = mesh.questions[Workload.NODATA], mesh.questions[Workload.NXDOMAIN]
    lines, asked = [], 0
    for i in range(QUERY_LINES):
        if i % 20 == 0:
            lines.append(nodata[i // 20 % len(nodata)])
        elif i % 20 == 1:
            lines.append(nxdomain[i // 20 % len(nxdomain)])
        else:
            lines.append(hits[asked % len(hits)])
            asked += 1
    rng.shuffle(lines)
    return lines


def _random_case(rng: random.Random, name: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)
