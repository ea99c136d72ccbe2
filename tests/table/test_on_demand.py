"""Pinned names are compiled on their first query, and answer exactly as if compiled at commit."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from globaldns.dns.compile import Node
from globaldns.dns.responder import Responder
from globaldns.dns.wire import SERVFAIL, name_to_wire
from globaldns.dns.zone import NODATA, ZoneConfig
from globaldns.table.claims import Claim
from globaldns.table.model import Cluster, GatewayHealth, Instance, Port
from globaldns.table.pipeline import Pipeline
from globaldns.table.table import NameView, Table

PORTS = (Port("http", 80), Port("dns", 53, "UDP"))


class EagerPipeline(Pipeline):
    """Compiles every name at commit, as before names were compiled on demand."""

    def _compile(self, name: str, defer: bool = True) -> None:
        super()._compile(name, False)


def wire(name: str) -> bytes:
    return name_to_wire(name + ".global")


def asked(table: Table, name: str) -> Node | None:
    """The node the responder finds for a name: held, or compiled on its first query."""
    owner = wire(name)
    node = table.zone.names.get(owner)
    return node if node is not None else table.zone.on_miss(owner)


def held(table: Table, name: str) -> bool:
    """Held by the zone already: `names` holds only that; `asked` compiles on demand."""
    return wire(name) in table.zone.names


def pair() -> tuple[Table, Table]:
    """An on-demand and an eager table; `build` dates their data alike, so their zones share a
    serial (SOA records compare)."""
    return Table(ZoneConfig(), "a"), Table(ZoneConfig(), "a", EagerPipeline)


def build(table: Table) -> Table:
    table.put_cluster(Cluster("a", "west", ("192.0.2.1",)))
    table.put_cluster(Cluster("b", "east", ("192.0.2.2",)))
    table.put_instance("a", "ns/foo", Instance("foo", ("10.0.0.1",), 1, PORTS))
    table.put_instance("b", "ns/foo", Instance("foo", ("10.1.0.1",), 1, PORTS))
    table.note_time(1_800_000_000.0)
    table.commit()
    return table


@pytest.fixture
def table() -> Table:
    return build(Table(ZoneConfig(), "a"))


def questions(table: Table) -> list[bytes]:
    """Every type of interest at every name, its SRV and `_tcp` names and a name below it."""
    out = []
    for view in table.views():
        names = [view.name, f"x.{view.name}", f"_tcp.{view.name}", f"_udp.{view.name}"]
        names += [f"_{p.name}._{p.protocol.lower()}.{view.name}" for p in view.ports]
        for name in names:
            for rdtype in ("A", "AAAA", "SRV", "ANY", "TXT"):
                query = dns.message.make_query(f"{name}.global", rdtype, use_edns=0)
                query.id = 4660
                out.append(query.to_wire())
    return out


def test_a_pinned_name_is_compiled_only_when_first_asked_for(table: Table) -> None:
    assert not held(table, "foo-b") and not held(table, "_http._tcp.foo-b")
    assert asked(table, "foo-b") is not None
    assert held(table, "foo-b") and held(table, "_http._tcp.foo-b")


def test_a_service_name_is_compiled_at_commit(table: Table) -> None:
    assert held(table, "foo") and held(table, "_http._tcp.foo")


def test_an_srv_or_tcp_name_compiles_its_pinned_name(table: Table) -> None:
    assert dns.rdatatype.SRV in asked(table, "_http._tcp.foo-east")
    assert held(table, "foo-east") and held(table, "_tcp.foo-east")


def test_a_change_drops_a_compiled_pinned_name_until_asked_again(table: Table) -> None:
    asked(table, "foo-b")
    table.put_cluster(Cluster("b", "east", ("192.0.2.9",)))  # its gateway: foo-b's answer
    table.commit()
    assert not held(table, "foo-b")


def test_a_change_that_alters_no_answer_keeps_a_compiled_pinned_name(table: Table) -> None:
    asked(table, "foo-b")
    serial = table.zone.serial
    table.put_instance("b", "ns/foo", Instance("foo", ("10.1.0.2",), 1, PORTS))  # b answers
    table.commit()  # its gateway, not its ClusterIP
    assert held(table, "foo-b")
    assert table.zone.serial == serial


def test_a_name_below_a_pinned_name_is_not_there(table: Table) -> None:
    assert asked(table, "x.foo-b") is None


def test_a_pinned_name_nothing_answers_is_not_there() -> None:
    table = Table(ZoneConfig(), "a")
    table.put_cluster(Cluster("b", "east"))  # no gateway address: foo-b cannot answer
    table.put_instance("b", "ns/foo", Instance("foo", ("10.1.0.1",), 1))
    table.commit()
    assert asked(table, "foo-b") is None


@pytest.mark.parametrize("parent_first", [True, False])
def test_a_pinned_name_that_is_another_names_parent_answers_its_addresses(
    parent_first: bool,
) -> None:
    table = Table(ZoneConfig(), "a")
    table.put_cluster(Cluster("a", "west", ("192.0.2.1",)))
    table.put_cluster(Cluster("b", "east", ("192.0.2.2",)))
    changes = [
        ("b", "ns/foo", Instance("foo", ("10.1.0.1",), 1)),
        ("a", "ns/x", Instance("x.foo-b", ("10.0.0.7",), 1)),
    ]
    for cluster, key, instance in changes if parent_first else changes[::-1]:
        table.put_instance(cluster, key, instance)
        table.commit()
    node = asked(table, "foo-b")
    assert dns.rdatatype.A in node  # not the empty non-terminal its child would make


@settings(max_examples=60, deadline=None)
@given(
    clusters=st.lists(
        st.tuples(
            st.sampled_from(["b", "c", "d"]),
            st.sampled_from(["west", "east"]),
            st.lists(st.sampled_from(["192.0.2.2", "192.0.2.3", "2001:db8::2"]), max_size=2),
        ),
        max_size=3,
    ),
    instances=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(["foo", "bar.ns", "foo-b"]),
            st.integers(0, 2),
            st.lists(st.sampled_from(PORTS), max_size=2, unique=True),
        ),
        max_size=8,
    ),
    down=st.lists(st.sampled_from(["192.0.2.2", "192.0.2.3"]), max_size=2),
)
def test_names_compiled_on_demand_answer_byte_for_byte_as_compiled_at_commit(
    clusters: list[tuple[str, str, list[str]]],
    instances: list[tuple[str, str, int, list[Port]]],
    down: list[str],
) -> None:
    tables = pair()
    for table in tables:
        table.put_cluster(Cluster("a", "west", ("192.0.2.1",)))
        for name, region, gateways in clusters:
            table.put_cluster(Cluster(name, region, tuple(gateways)))
        for number, (cluster, host, ready, ports) in enumerate(instances):
            address = f"10.0.{number}.1"
            table.put_instance(
                cluster, f"ns/{host}", Instance(host, (address,), ready, tuple(ports))
            )
        for address in down:
            table.put_gateway_health("b", address, GatewayHealth(False, 1.0, "refused"))
        table.note_time(1_800_000_000.0)  # one serial for both, whenever each commits
        table.commit()
    lazy, eager = tables
    assert list(lazy.views()) == list(eager.views())
    responders = [Responder(t.zone) for t in tables]
    for question in questions(eager) * 2:  # twice: compiled, then remembered
        assert responders[0].respond(question, True) == responders[1].respond(question, True)


def test_a_pinned_name_whose_compile_fails_answers_servfail_and_is_counted() -> None:
    class Failing(Pipeline):
        def _view(self, name: str, claim: Claim, explain: bool = False) -> NameView | None:
            if name == "foo-b":
                raise RuntimeError("planted failure")
            return super()._view(name, claim, explain)

    table = build(Table(ZoneConfig(), "a", Failing))
    node = asked(table, "foo-b")
    assert node[NODATA].rcode == SERVFAIL
    assert table.internal_errors == 1
    assert dns.rdatatype.A in asked(table, "foo-a")


def test_a_pinned_name_claimed_after_a_remembered_nxdomain_answers() -> None:
    """The responder remembers recent UDP replies; a name claimed later must not stay NXDOMAIN
    (a cluster moving to a new region claims its region-pinned names without compiling them)."""
    table = build(Table(ZoneConfig(), "a"))
    responder = Responder(table.zone)
    query = dns.message.make_query("foo-south.global", "A").to_wire()
    for _ in range(2):  # the second answer comes from the memo
        reply = dns.message.from_wire(responder.respond(query, True) or b"")
        assert reply.rcode() == dns.rcode.NXDOMAIN
    table.put_cluster(Cluster("b", "south", ("192.0.2.2",)))
    table.commit()
    reply = dns.message.from_wire(responder.respond(query, True) or b"")
    assert [rr.to_text() for rrset in reply.answer for rr in rrset] == ["192.0.2.2"]


def test_a_change_that_alters_no_answer_keeps_the_memo() -> None:
    """The memo of recent replies (which the compiled UDP loop answers from) survives changes
    that alter no answer, such as a remote ready count, so it serves under steady updates."""
    table = build(Table(ZoneConfig(), "a"))
    responder = Responder(table.zone)
    responder.respond(dns.message.make_query("foo.global", "A").to_wire(), True)
    assert len(table.zone.memo) == 1
    table.put_instance("b", "ns/foo", Instance("foo", ("10.1.0.1",), 2, PORTS))
    table.commit()
    assert len(table.zone.memo) == 1


def gains_a_gateway(table: Table) -> None:
    table.put_cluster(Cluster("c", "east", ("192.0.2.3",)))


def loses_a_stronger_claim(table: Table) -> None:
    table.put_instance("d", "ns/foo-b-c", None)  # the service `foo-b-c`: it answered nothing


def loses_a_stronger_pin(table: Table) -> None:
    table.put_instance("b-c", "ns/foo", None)  # `foo` pinned to b-c sorts first, answers nothing


def changes_nothing_it_answers(table: Table) -> None:
    table.put_instance("c", "ns/foo-b", Instance("foo-b", ("10.2.0.1",), 2))


@pytest.mark.parametrize(
    "changes",
    [
        [changes_nothing_it_answers, *order]
        for order in itertools.permutations(
            [gains_a_gateway, loses_a_stronger_claim, loses_a_stronger_pin]
        )
    ],
)
def test_a_pinned_name_remembered_as_nxdomain_answers_once_it_can(
    changes: list[Callable[[Table], None]],
) -> None:
    """`foo-b-c` (`foo-b` pinned to c) answers nothing until all three changes are made: c
    lists no gateway, and stronger claims on the name answer nothing either. Asked for before
    each, it is NXDOMAIN, which the responder remembers; the last change must reach the asker,
    although the local cluster answers `foo-b` itself throughout (no other write empties the
    memo)."""
    table = build(Table(ZoneConfig(), "a"))
    for cluster in ("c", "d", "b-c"):
        table.put_cluster(Cluster(cluster, "east"))
    table.put_instance("a", "ns/foo-b", Instance("foo-b", ("10.0.0.2",), 1))
    table.put_instance("c", "ns/foo-b", Instance("foo-b", ("10.2.0.1",), 1))
    table.put_instance("d", "ns/foo-b-c", Instance("foo-b-c", ("10.3.0.1",), 1))
    table.put_instance("b-c", "ns/foo", Instance("foo", ("10.4.0.1",), 1))
    table.commit()
    responder = Responder(table.zone)
    query = dns.message.make_query("foo-b-c.global", "A").to_wire()
    for change in changes:
        reply = dns.message.from_wire(responder.respond(query, True) or b"")
        assert reply.rcode() == dns.rcode.NXDOMAIN
        change(table)
        table.commit()
    reply = dns.message.from_wire(responder.respond(query, True) or b"")
    assert [rr.to_text() for rrset in reply.answer for rr in rrset] == ["192.0.2.3"]
