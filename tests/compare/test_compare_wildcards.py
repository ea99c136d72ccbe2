"""`globaldns compare` asks a wildcard host by one sample name below it, so a resolver that
answers names below `shard.global` otherwise is found (real sockets: NSD serving zone files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from globaldns.compare.run import SAMPLE_LABEL
from harness import GlobalDns
from tests.compare.test_compare_servers import compared, zone_file
from tests.support import Nsd

MESH: dict[str, Any] = {
    "zone": "global",
    "localCluster": "west",
    "clusters": [{"name": "west", "region": "west", "gateways": ["192.0.2.1"]}],
    "serviceEntries": [{"hosts": ["*.shard.global"], "addresses": ["240.0.0.9"]}],
}
SAMPLE = f"{SAMPLE_LABEL}.shard.global."


@pytest.fixture(scope="module")
def ours() -> Iterator[GlobalDns]:
    server = GlobalDns(MESH).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def zones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zones")


@pytest.fixture(scope="module")
def same(zones: Path) -> Iterator[Nsd]:
    server = Nsd("global", zone_file(MESH, zones))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def other_below(zones: Path) -> Iterator[Nsd]:
    """The same wildcard, but the sample name answers another address."""
    zone = zone_file(MESH, zones) + f"{SAMPLE} IN A 240.0.0.99\n"
    server = Nsd("global", zone)
    yield server
    server.stop()


def test_a_wildcard_is_asked_by_its_owner_and_a_sample_name_below_it(
    ours: GlobalDns, same: Nsd
) -> None:
    status, document = compared(ours, f"127.0.0.1:{same.port}")
    assert (status, document["questions"], document["differences"]) == (0, 4, [])


def test_a_resolver_answering_otherwise_below_the_wildcard_differs_at_the_sample(
    ours: GlobalDns, other_below: Nsd
) -> None:
    status, document = compared(ours, f"127.0.0.1:{other_below.port}")
    assert status == 1
    assert {(d["name"], d["type"]) for d in document["differences"]} == {(SAMPLE, "A")}
