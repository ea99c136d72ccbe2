"""Gateway health in the table: stored per address, forgotten when unlisted, recompiled narrowly."""

from __future__ import annotations

import pytest

from globaldns.dns.zone import ZoneConfig
from globaldns.table.index import Index
from globaldns.table.model import Cluster, GatewayHealth, Instance
from globaldns.table.pipeline import Pipeline
from globaldns.table.scheme import NamingScheme
from globaldns.table.table import Table

DOWN = GatewayHealth(up=False, since=1.0, error="refused 3 times")


class CountingPipeline(Pipeline):
    """Remembers which names each commit recompiled (or, if pinned, placed to compile later)."""

    def __init__(self, config: ZoneConfig, index: Index, scheme: NamingScheme) -> None:
        super().__init__(config, index, scheme)
        self.compiled: list[str] = []

    def _compile(self, name: str, defer: bool = True) -> None:
        self.compiled.append(name)
        super()._compile(name, defer)


class CountingTable(Table):
    """A table whose commits remember the names they recompiled (`compiled`)."""

    def __init__(self, config: ZoneConfig, local_cluster: str) -> None:
        super().__init__(config, local_cluster, CountingPipeline)
        assert isinstance(self.pipeline, CountingPipeline)
        self.compiled = self.pipeline.compiled


def answers(table: Table, name: str) -> tuple[str, ...]:
    return next(v for v in table.views() if v.name == name).addresses


@pytest.fixture
def table() -> CountingTable:
    """Local cluster `a` runs nothing; `foo` runs in b and c, `bar` in c only."""
    t = CountingTable(ZoneConfig(), local_cluster="a")
    t.put_cluster(Cluster("a", "west", ("192.0.2.1",)))
    t.put_cluster(Cluster("b", "east", ("192.0.2.2", "192.0.2.3")))
    t.put_cluster(Cluster("c", "east", ("192.0.2.4",)))
    t.put_instance("b", "ns/foo", Instance("foo", ("10.1.0.1",), 1))
    t.put_instance("c", "ns/foo", Instance("foo", ("10.2.0.1",), 1))
    t.put_instance("c", "ns/bar", Instance("bar", ("10.2.0.2",), 1))
    t.commit()
    t.compiled.clear()
    return t


def test_a_down_gateway_leaves_the_answer_at_commit(table: CountingTable) -> None:
    table.put_gateway_health("b", "192.0.2.2", DOWN)
    assert answers(table, "foo") == ("192.0.2.2", "192.0.2.3", "192.0.2.4")
    table.commit()
    assert answers(table, "foo") == ("192.0.2.3", "192.0.2.4")


def test_forgetting_health_brings_the_address_back(table: CountingTable) -> None:
    table.put_gateway_health("b", "192.0.2.2", DOWN)
    table.commit()
    table.put_gateway_health("b", "192.0.2.2", None)
    table.commit()
    assert answers(table, "foo") == ("192.0.2.2", "192.0.2.3", "192.0.2.4")


def test_a_health_change_recompiles_only_names_that_cluster_answers(table: CountingTable) -> None:
    table.put_gateway_health("b", "192.0.2.2", DOWN)
    table.commit()
    assert sorted(table.compiled) == ["foo", "foo-b", "foo-east"]


def test_the_same_verdict_again_recompiles_nothing(table: CountingTable) -> None:
    table.put_gateway_health("b", "192.0.2.2", DOWN)
    table.commit()
    table.compiled.clear()
    table.put_gateway_health("b", "192.0.2.2", GatewayHealth(False, 9.0, "refused 3 times"))
    table.commit()
    assert table.compiled == []


def test_a_gateway_no_longer_listed_loses_its_health(table: CountingTable) -> None:
    table.put_gateway_health("b", "192.0.2.2", DOWN)
    table.put_cluster(Cluster("b", "east", ("192.0.2.3",)))
    table.put_cluster(Cluster("b", "east", ("192.0.2.2", "192.0.2.3")))
    table.commit()
    assert answers(table, "foo") == ("192.0.2.2", "192.0.2.3", "192.0.2.4")


def test_a_cluster_pinned_name_answers_its_gateways_up_or_down(table: CountingTable) -> None:
    for address in ("192.0.2.2", "192.0.2.3"):
        table.put_gateway_health("b", address, DOWN)
    table.commit()
    assert answers(table, "foo-b") == ("192.0.2.2", "192.0.2.3")
    assert answers(table, "foo") == ("192.0.2.4",)


def test_every_gateway_down_fails_open_to_all_of_them(table: CountingTable) -> None:
    for cluster, address in (("b", "192.0.2.2"), ("b", "192.0.2.3"), ("c", "192.0.2.4")):
        table.put_gateway_health(cluster, address, DOWN)
    table.commit()
    view = next(v for v in table.views() if v.name == "foo")
    assert (view.tier.label, view.addresses) == (
        "failopen",
        ("192.0.2.2", "192.0.2.3", "192.0.2.4"),
    )


def test_an_unready_gateway_service_takes_its_cluster_out(table: CountingTable) -> None:
    table.put_cluster(Cluster("c", "east", ("192.0.2.4",), gateway_ready=False))
    table.commit()
    assert answers(table, "foo") == ("192.0.2.2", "192.0.2.3")


def test_a_health_flip_in_a_large_mesh_touches_only_that_clusters_names() -> None:
    table = CountingTable(ZoneConfig(), local_cluster="c0")
    clusters = [f"c{i}" for i in range(40)]
    for i, name in enumerate(clusters):
        table.put_cluster(Cluster(name, f"r{i % 4}", (f"192.0.2.{i + 1}",)))
    for s in range(200):
        for name in clusters[s % 40 : s % 40 + 3]:
            table.put_instance(name, f"ns/s{s}", Instance(f"s{s}", ("10.0.0.1",), 1))
    table.commit()
    table.compiled.clear()
    table.put_gateway_health("c7", "192.0.2.8", DOWN)
    table.commit()
    runs_in_c7 = {f"s{s}" for s in range(200) if 7 in range(s % 40, s % 40 + 3)}
    assert {name.split("-")[0] for name in table.compiled} == runs_in_c7
    assert len(table.compiled) == 3 * len(runs_in_c7)
