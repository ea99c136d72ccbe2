"""Names that spell the same: one total order decides, whatever arrives first (issue 7.1)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from globaldns.dns.zone import ZoneConfig
from globaldns.table.claims import Claim, ClaimKind
from globaldns.table.model import Cluster, Entry, GatewayHealth, Instance, Port
from globaldns.table.table import NameView, Table

# Few tokens, joined by hyphens, so hosts, clusters and regions spell each other's pinned names.
TOKENS = ("a", "b", "c")
hyphenated = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=3).map("-".join)


@dataclass(frozen=True)
class Change:
    """One call a source makes: put a cluster, an instance or a ServiceEntry."""

    what: str
    cluster: str
    key: str = ""
    payload: Cluster | Instance | Entry | GatewayHealth | None = None

    def apply(self, table: Table) -> None:
        if isinstance(self.payload, GatewayHealth):
            table.put_gateway_health(self.cluster, self.key, self.payload)
        elif isinstance(self.payload, Cluster):
            table.put_cluster(self.payload)
        elif isinstance(self.payload, Instance):
            table.put_instance(self.cluster, self.key, self.payload)
        elif isinstance(self.payload, Entry):
            table.put_entry(self.cluster, self.key, self.payload)


@st.composite
def meshes(draw: st.DrawFn) -> tuple[str, list[Change]]:
    """A local cluster and the changes that describe a mesh; every cluster has gateways."""
    names = draw(st.lists(hyphenated, min_size=1, max_size=4, unique=True))
    changes = []
    for i, name in enumerate(names):
        gateways = (f"192.0.2.{i + 1}", f"198.51.100.{i + 1}")
        region = draw(st.none() | hyphenated)
        changes.append(Change("cluster", name, payload=Cluster(name, region, gateways)))
        for address in draw(st.lists(st.sampled_from(gateways), unique=True)):
            health = GatewayHealth(up=False, since=0.0, error="refused 3 times")
            changes.append(Change("health", name, address, health))
    hosts = draw(st.lists(hyphenated, min_size=1, max_size=4, unique=True))
    for host in hosts:
        for cluster in draw(st.lists(st.sampled_from(names), min_size=1, unique=True)):
            ready = draw(st.integers(0, 2))
            instance = Instance(host, ("10.0.0.1",), ready, (Port("http", 80),))
            changes.append(Change("instance", cluster, f"ns/{host}", instance))
    for i, host in enumerate(draw(st.lists(hyphenated, max_size=2, unique=True))):
        changes.append(Change("entry", names[0], f"ns/se{i}", Entry((host,), ("240.0.0.1",))))
    return draw(st.sampled_from(names)), changes


def build(local: str, batches: list[list[Change]]) -> Table:
    table = Table(ZoneConfig(), local_cluster=local)
    for batch in batches:
        for change in batch:
            change.apply(table)
        table.commit()
    return table


def views(table: Table) -> list[NameView]:
    return list(table.views())


@settings(max_examples=150, deadline=None)
@given(meshes())
def test_every_service_keeps_its_global_name(mesh: tuple[str, list[Change]]) -> None:
    local, changes = mesh
    table = build(local, [changes])
    entry_hosts = {h for c in changes if isinstance(c.payload, Entry) for h in c.payload.hosts}
    by_name = {view.name: view for view in table.views()}
    for change in changes:
        if isinstance(change.payload, Instance) and change.payload.host not in entry_hosts:
            assert by_name[change.payload.host].kind == ClaimKind.SERVICE
    assert table.internal_errors == 0


@settings(max_examples=150, deadline=None)
@given(meshes(), st.randoms(use_true_random=False))
def test_the_winner_does_not_depend_on_the_order_changes_arrive_in(
    mesh: tuple[str, list[Change]], rng: object
) -> None:
    local, changes = mesh
    shuffled = list(changes)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    one_commit = views(build(local, [changes]))
    assert views(build(local, [shuffled])) == one_commit


@settings(max_examples=150, deadline=None)
@given(meshes(), st.randoms(use_true_random=False), st.integers(1, 5))
def test_several_commits_end_where_one_commit_does(
    mesh: tuple[str, list[Change]], rng: object, batches: int
) -> None:
    local, changes = mesh
    shuffled = list(changes)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    split = [shuffled[i::batches] for i in range(batches)]
    assert views(build(local, split)) == views(build(local, [changes]))


def test_same_kind_claims_are_ordered_by_service_then_scope() -> None:
    by_a = Claim(ClaimKind.CLUSTER_PIN, "a", "b-c")
    by_ab = Claim(ClaimKind.CLUSTER_PIN, "a-b", "c")
    assert min(by_ab, by_a) == by_a
    assert min(Claim(ClaimKind.REGION_PIN, "a", "x"), by_ab) == by_ab


def test_two_pinned_names_that_spell_the_same_do_not_stop_the_table(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = Table(ZoneConfig(), local_cluster="c")
    table.put_cluster(Cluster("b-c", None, ("192.0.2.1",)))
    table.put_cluster(Cluster("c", None, ("192.0.2.2",)))
    table.put_instance("b-c", "ns/a", Instance("a", ("10.0.0.1",), 1))
    table.put_instance("c", "ns/a-b", Instance("a-b", ("10.0.0.2",), 1))
    with caplog.at_level(logging.WARNING):
        table.commit()
        table.put_instance("c", "ns/a-b", Instance("a-b", ("10.0.0.3",), 1))
        table.commit()
    view = next(v for v in table.views() if v.name == "a-b-c")
    assert (view.kind, view.addresses) == (ClaimKind.CLUSTER_PIN, ("192.0.2.1",))
    assert table.conflicts == 1
    (record,) = [r for r in caplog.records if "a-b-c.global" in r.getMessage()]
    assert getattr(record, "fqdn", None) == "a-b-c.global."  # a field of its JSON log line
