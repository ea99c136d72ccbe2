"""The table as a TableSink: incremental recompiles, name lifetimes and conflict rules."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from globaldns.dns.wire import name_to_wire
from globaldns.dns.zone import NODATA, ZoneConfig
from globaldns.table.claims import Claim
from globaldns.table.model import Cluster, Entry, Instance, Port
from globaldns.table.pipeline import Pipeline
from globaldns.table.table import NameView, Table
from tests.table.test_on_demand import asked


def wire(name: str) -> bytes:
    return name_to_wire(name + ".global")


def held(table: Table, name: str) -> bool:
    """Whether the zone answers for the name as the responder asks (pinned names on demand)."""
    return asked(table, name) is not None


@pytest.fixture
def table() -> Table:
    t = Table(ZoneConfig(), local_cluster="a")
    t.put_cluster(Cluster("a", "west", ("192.0.2.1",)))
    t.put_cluster(Cluster("b", "east", ("192.0.2.2",)))
    for host in ("foo", "bar"):
        t.put_instance("a", f"ns/{host}", Instance(host, ("10.0.0.1",), 1, (Port("http", 80),)))
        t.put_instance("b", f"ns/{host}", Instance(host, ("10.1.0.1",), 1))
    t.commit()
    return t


def test_change_to_one_service_leaves_other_services_compiled_answers_untouched(
    table: Table,
) -> None:
    before = {n: asked(table, n) for n in ("bar", "bar-a", "bar-east", "_http._tcp.bar")}
    assert None not in before.values()
    table.put_instance("a", "ns/foo", Instance("foo", ("10.0.0.9",), 1))
    table.commit()
    assert all(asked(table, n) is node for n, node in before.items())


def test_change_in_one_cluster_leaves_other_clusters_pinned_names_untouched(table: Table) -> None:
    pinned_b = asked(table, "foo-b")
    assert pinned_b is not None
    table.put_instance("a", "ns/foo", Instance("foo", ("10.0.0.9",), 1))
    table.commit()
    assert asked(table, "foo-b") is pinned_b
    assert asked(table, "foo-a") is not pinned_b


def test_changes_take_effect_at_commit(table: Table) -> None:
    table.put_instance("a", "ns/new", Instance("new", ("10.0.0.5",), 1))
    assert not held(table, "new")
    table.commit()
    assert held(table, "new")


def test_a_budgeted_commit_compiles_no_name_before_every_touched_host_is_reclaimed(
    table: Table,
) -> None:
    """Out of time, a commit reclaims one host and stops: the names wait for the rest, so
    each is compiled from claims that agree with every change applied."""
    for n in range(5):
        table.put_instance("a", f"ns/s{n}", Instance(f"s{n}", ("10.0.0.5",), 1))
    for _ in range(4):
        assert not table.commit(budget=0.0)
        assert table.pending and not any(held(table, f"s{n}") for n in range(5))
    while not table.commit(budget=0.0):
        pass
    assert all(held(table, f"s{n}") for n in range(5))


def test_removing_the_last_instance_removes_every_derived_name(table: Table) -> None:
    table.put_instance("a", "ns/bar", None)
    table.put_instance("b", "ns/bar", None)
    table.commit()
    for name in ("bar", "bar-a", "bar-b", "bar-west", "bar-east"):
        assert not held(table, name)


def test_srv_parent_is_an_empty_non_terminal_while_the_srv_name_exists(table: Table) -> None:
    assert set(asked(table, "_tcp.foo")) <= {NODATA, 255}
    table.put_instance("a", "ns/foo", Instance("foo", ("10.0.0.1",), 1))  # no ports now
    table.commit()
    assert not held(table, "_tcp.foo")


def test_dropping_a_cluster_forgets_what_it_contributed(table: Table) -> None:
    table.drop_cluster("b")
    table.commit()
    assert not held(table, "foo-b")
    assert not held(table, "foo-east")
    assert held(table, "foo")


def test_objects_of_one_cluster_sharing_a_host_answer_together(table: Table) -> None:
    table.put_instance("a", "ns2/other", Instance("foo", ("10.0.0.2",), 1))
    table.commit()
    view = next(v for v in table.views() if v.name == "foo")
    assert view.addresses == ("10.0.0.1", "10.0.0.2")


def test_objects_of_one_cluster_joining_and_leaving_a_host_leave_the_rest_answering(
    table: Table,
) -> None:
    table.put_instance("a", "ns2/other", Instance("foo", ("10.0.0.2",), 1))
    table.put_instance("a", "ns3/third", Instance("foo", ("10.0.0.3",), 1))
    table.put_instance("a", "ns/foo", None)
    table.put_instance("a", "ns3/third", Instance("bar", ("10.0.0.3",), 1))
    table.commit()
    views = {v.name: v for v in table.views()}
    assert views["foo"].addresses == ("10.0.0.2",)
    assert views["bar"].addresses == ("10.0.0.1", "10.0.0.3")
    # One object of a cluster is held by its key alone (a dict each cost 40 MiB at 200 x 1,000).
    assert table.index.instances["foo"]["a"] == "ns2/other"
    assert table.index.objects("bar", "a").keys() == {"ns/bar", "ns3/third"}


GRPC = Port("grpc", 9)


@pytest.mark.parametrize(
    ("changes", "ports"),
    [
        ([("b", "ns2/foo", (GRPC,))], (Port("http", 80), GRPC)),  # beside b's portless foo
        ([("a", "ns2/foo", (GRPC,))], (Port("http", 80), GRPC)),  # beside a's foo
        ([("a", "ns2/foo", ()), ("a", "ns/foo", None)], ()),  # a's port-naming object goes
        ([("b", "ns2/foo", (GRPC,)), ("b", "ns2/foo", ())], (Port("http", 80),)),
    ],
)
def test_objects_sharing_a_host_in_one_cluster_change_its_ports(
    table: Table,
    changes: list[tuple[str, str, tuple[Port, ...] | None]],
    ports: tuple[Port, ...],
) -> None:
    for cluster, key, named in changes:
        instance = None if named is None else Instance("foo", ("10.0.0.2",), 1, named)
        table.put_instance(cluster, key, instance)
        table.commit()
    view = table.lookup("foo")
    assert view is not None and view.ports == ports
    assert held(table, "_grpc._tcp.foo") == (GRPC in ports)


def test_service_entries_for_the_same_host_merge_their_addresses(table: Table) -> None:
    table.put_entry("a", "ns/se", Entry(("db",), ("240.0.0.1",)))
    table.put_entry("b", "ns/se", Entry(("db",), ("240.0.0.2",)))
    table.commit()
    view = next(v for v in table.views() if v.name == "db")
    assert view.addresses == ("240.0.0.1", "240.0.0.2")
    assert table.conflicts == 0


@pytest.mark.parametrize(
    "order",
    [[("a", "ns/se", 80), ("b", "ns/se", 8080)], [("b", "ns/se", 8080), ("a", "ns/se", 80)]],
)
def test_service_entries_for_the_same_host_name_one_port_whatever_arrived_first(
    table: Table, order: list[tuple[str, str, int]]
) -> None:
    for cluster, key, port in order:
        table.put_entry(cluster, key, Entry(("db",), ("240.0.0.1",), (Port("http", port),)))
        table.commit()
    table.put_entry("a", "ns/se", Entry(("db",), ("240.0.0.1",), (Port("http", 80),)))  # again
    table.commit()
    view = table.lookup("db")
    assert view is not None and view.ports == (Port("http", 80),)


def test_a_conflict_is_counted_and_logged_once(
    table: Table, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for address in ("240.0.0.1", "240.0.0.2"):
            table.put_entry("a", "ns/se", Entry(("foo-east",), (address,)))
            table.commit()
    assert table.conflicts == 1
    assert len([r for r in caplog.records if "foo-east.global" in r.getMessage()]) == 1


def test_region_change_moves_region_pinned_names(table: Table) -> None:
    table.put_cluster(Cluster("b", "central", ("192.0.2.2",)))
    table.commit()
    assert not held(table, "foo-east")
    assert held(table, "foo-central")


def test_gateway_change_reaches_remote_answers(table: Table) -> None:
    table.put_cluster(Cluster("b", "east", ("192.0.2.99",)))
    table.commit()
    view = next(v for v in table.views() if v.name == "foo-b")
    assert view.addresses == ("192.0.2.99",)


@pytest.mark.parametrize(
    ("name", "ports"),
    [
        ("foo", (Port("http", 80),)),  # the service: what any of its clusters names
        ("foo-a", (Port("http", 80),)),
        ("foo-west", (Port("http", 80),)),
        ("foo-b", ()),  # b names no port: no SRV name for the pinned names of b alone
        ("foo-east", ()),
    ],
)
def test_a_names_srv_ports_are_those_of_the_clusters_it_answers_for(
    table: Table, name: str, ports: tuple[Port, ...]
) -> None:
    view = table.lookup(name)
    assert view is not None and view.ports == ports
    assert held(table, f"_http._tcp.{name}") == bool(ports)


class FailingPipeline(Pipeline):
    """A pipeline whose compilation of one name raises, as a bug would."""

    failing = ""

    def _view(self, name: str, claim: Claim, explain: bool = False) -> NameView | None:
        if name == self.failing:
            raise RuntimeError(f"planted failure for {name}")
        return super()._view(name, claim, explain)


def test_a_name_that_fails_to_compile_keeps_its_answer_and_later_changes_still_arrive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = Table(ZoneConfig(), local_cluster="a", pipeline=FailingPipeline)
    assert isinstance(table.pipeline, FailingPipeline)
    table.put_cluster(Cluster("a", "west", ("192.0.2.1",)))
    for host in ("foo", "bar"):
        table.put_instance("a", f"ns/{host}", Instance(host, ("10.0.0.1",), 1))
    table.commit()
    table.pipeline.failing = "foo"
    with caplog.at_level(logging.ERROR):
        for address in ("10.0.0.2", "10.0.0.3"):
            for host in ("foo", "bar"):
                table.put_instance("a", f"ns/{host}", Instance(host, (address,), 1))
            assert table.commit()
    views = {v.name: v.addresses for v in table.views()}
    assert views["bar"] == ("10.0.0.3",)
    assert views["foo"] == ("10.0.0.1",)
    assert held(table, "foo")
    assert table.internal_errors == 2
    logged = [r for r in caplog.records if "foo.global" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_commit_never_raises_when_reworking_one_hosts_claims_fails() -> None:
    class Failing(Pipeline):
        def _reclaim_host(self, host: str, touched: set[str] | None) -> set[str]:
            if host == "foo":
                raise RuntimeError("planted failure")
            return super()._reclaim_host(host, touched)

    table = Table(ZoneConfig(), local_cluster="a", pipeline=Failing)
    table.put_cluster(Cluster("a", "west", ("192.0.2.1",)))
    for host in ("foo", "bar"):
        table.put_instance("a", f"ns/{host}", Instance(host, ("10.0.0.1",), 1))
    assert table.commit()
    assert [v.name for v in table.views()] == ["bar", "bar-a", "bar-west"]
    assert table.internal_errors == 1


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.lists(st.sampled_from([Port("http", 80), Port("http", 8080), Port("grpc", 9)])),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_a_services_ports_do_not_depend_on_the_order_clusters_join_in(
    joins: list[tuple[str, list[Port]]],
) -> None:
    def ports(tables_commit_each: bool, order: list[tuple[str, list[Port]]]) -> object:
        table = Table(ZoneConfig(), local_cluster="b")
        for cluster in ("a", "b", "c"):
            table.put_cluster(Cluster(cluster, "west", ("192.0.2.1",)))
        for cluster, cluster_ports in order:
            table.put_instance(
                cluster, "ns/foo", Instance("foo", ("10.0.0.1",), 1, tuple(cluster_ports))
            )
            if tables_commit_each:
                table.commit()
        table.commit()
        return next(v.ports for v in table.views() if v.name == "foo")

    final = list({cluster: (cluster, p) for cluster, p in joins}.values())
    assert ports(True, joins) == ports(False, sorted(final))
