"""Wildcard ServiceEntry hosts (`*.shard.global`) as the table compiles them and the responder
answers them, in process: RFC 4592 (the closest encloser's wildcard, an exact name first), the
owner an empty non-terminal, SRV by the entry's ports, the question's own name and case."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from globaldns.dns.responder import Responder
from globaldns.dns.wire import Unfit
from globaldns.dns.zone import ZoneConfig
from globaldns.table import render
from globaldns.table.model import Cluster, Entry, Instance, Port
from globaldns.table.render import as_zone
from globaldns.table.table import Table

WILD = Entry(("*.shard",), ("240.0.0.9",), (Port("http", 80),), "ns/wild")


def mesh() -> Table:
    """`*.shard` beside an exact entry, an entry making `mid.shard` an empty non-terminal, and
    a Service `svc` of namespace `shard` (whose pinned name `svc-a.shard` is compiled when
    asked)."""
    table = Table(ZoneConfig(), local_cluster="a")
    table.put_cluster(Cluster("a", region="west", gateways=("192.0.2.1",)))
    table.put_entry("a", "ns/wild", WILD)
    table.put_entry("a", "ns/exact", Entry(("exact.shard",), ("240.0.0.10",)))
    table.put_entry("a", "ns/leaf", Entry(("leaf.mid.shard",), ("240.0.0.11",)))
    table.put_instance("a", "shard/svc", Instance("svc.shard", ("10.0.0.1",), 1))
    table.commit()
    return table


TABLE = mesh()  # asked only, never changed: for the property test's many examples


@pytest.fixture
def table() -> Table:
    return mesh()


def ask(table: Table, name: str, rdtype: str = "A") -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, use_edns=False)
    reply = Responder(table.zone).respond(query.to_wire(), udp=True)
    assert reply is not None
    return dns.message.from_wire(reply)


def records(reply: dns.message.Message, section: str = "answer") -> list[str]:
    return sorted(rr.to_text() for rr in getattr(reply, section))


@pytest.mark.parametrize(
    ("name", "rdtype", "rcode", "answer"),
    [
        # depth 1 and 3, in the asker's case
        ("a.shard.global", "A", "NOERROR", ["a.shard.global. 5 IN A 240.0.0.9"]),
        ("X.y.Z.shard.global", "A", "NOERROR", ["X.y.Z.shard.global. 5 IN A 240.0.0.9"]),
        # an exact name wins, an entry's and a Service's alike, and its pinned name
        ("exact.shard.global", "A", "NOERROR", ["exact.shard.global. 5 IN A 240.0.0.10"]),
        ("svc.shard.global", "A", "NOERROR", ["svc.shard.global. 5 IN A 10.0.0.1"]),
        ("svc-a.shard.global", "A", "NOERROR", ["svc-a.shard.global. 5 IN A 10.0.0.1"]),
        # the closest encloser is an existing name other than `shard.global`: no wildcard there
        ("a.exact.shard.global", "A", "NXDOMAIN", []),
        ("a.mid.shard.global", "A", "NXDOMAIN", []),
        ("a.svc-a.shard.global", "A", "NXDOMAIN", []),
        # the wildcard's parent is an empty non-terminal; `mid.shard` too
        ("shard.global", "A", "NOERROR", []),
        ("mid.shard.global", "A", "NOERROR", []),
        # NODATA below the wildcard: it has no IPv6 address and no TXT
        ("a.shard.global", "AAAA", "NOERROR", []),
        ("a.b.shard.global", "TXT", "NOERROR", []),
        # the `*` owner itself, asked literally
        ("*.shard.global", "A", "NOERROR", ["*.shard.global. 5 IN A 240.0.0.9"]),
        # outside the wildcard's parent
        ("a.other.global", "A", "NXDOMAIN", []),
    ],
)
def test_wildcard_answers(
    table: Table, name: str, rdtype: str, rcode: str, answer: list[str]
) -> None:
    reply = ask(table, name, rdtype)
    assert (dns.rcode.to_text(reply.rcode()), records(reply)) == (rcode, answer)
    if not answer:  # NXDOMAIN and NODATA carry the SOA, as for any name
        assert [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]


def test_a_wildcard_srv_names_the_question_below_the_port_labels(table: Table) -> None:
    reply = ask(table, "_http._tcp.Web.Eu.shard.global", "SRV")
    assert records(reply) == [
        "_http._tcp.Web.Eu.shard.global. 5 IN SRV 0 100 80 web.eu.shard.global."
    ]
    assert records(reply, "additional") == ["Web.Eu.shard.global. 5 IN A 240.0.0.9"]


@pytest.mark.parametrize(
    "name",
    [
        "_grpc._tcp.web.shard.global",  # a port the entry does not name
        "_http._udp.web.shard.global",  # another protocol
        "_http._tcp.shard.global",  # its target would be the parent, which the wildcard is not
    ],
)
def test_a_wildcard_srv_question_for_no_port_of_the_entry_is_nodata(
    table: Table, name: str
) -> None:
    reply = ask(table, name, "SRV")
    assert (reply.rcode(), reply.answer) == (dns.rcode.NOERROR, [])


def test_other_types_at_a_wildcard_srv_name_are_the_wildcards(table: Table) -> None:
    reply = ask(table, "_http._tcp.web.shard.global", "A")
    assert records(reply) == ["_http._tcp.web.shard.global. 5 IN A 240.0.0.9"]


def test_an_exact_name_added_later_wins_over_the_wildcard_at_once(table: Table) -> None:
    assert records(ask(table, "late.shard.global")) == ["late.shard.global. 5 IN A 240.0.0.9"]
    table.put_entry("a", "ns/late", Entry(("late.shard",), ("240.0.0.12",)))
    table.commit()
    assert records(ask(table, "late.shard.global")) == ["late.shard.global. 5 IN A 240.0.0.12"]
    assert dns.rcode.to_text(ask(table, "x.late.shard.global").rcode()) == "NXDOMAIN"


def test_a_wildcard_removed_answers_nothing_below_its_parent(table: Table) -> None:
    table.put_entry("a", "ns/wild", None)
    table.commit()
    assert ask(table, "a.shard.global").rcode() == dns.rcode.NXDOMAIN
    assert ask(table, "*.shard.global").rcode() == dns.rcode.NXDOMAIN
    assert ask(table, "shard.global").rcode() == dns.rcode.NOERROR  # still above svc.shard


def test_a_skipped_wildcard_entry_answers_nothing(table: Table) -> None:
    table.put_entry("a", "ns/wild", Entry(("*.shard",), ("240.0.0.0/24",), (), "ns/wild"))
    table.put_entry("a", "ns/wild", Entry(("*.shard",), (), (), "ns/wild"))
    table.commit()
    assert ask(table, "a.shard.global").rcode() == dns.rcode.NXDOMAIN
    view = table.lookup("*.shard.global")
    assert view is not None and "no addresses" in view.reason


def test_the_zone_file_holds_the_wildcard_records_and_no_srv_below_them(table: Table) -> None:
    lines = as_zone(table).splitlines()
    assert "*.shard IN A 240.0.0.9" in lines
    assert not [line for line in lines if "*" in line and "SRV" in line]


def test_a_host_outside_the_zone_is_explained_by_which_entry_lists_it(table: Table) -> None:
    outside = Entry(("legacy",), ("240.0.0.13",), (), "ns/legacy", None, ("legacy.example.com.",))
    table.put_entry("b", "ns/legacy", outside)
    table.commit()
    view = table.lookup("Legacy.Example.com.")
    assert view is not None
    assert view.name == "legacy.example.com."
    assert "ServiceEntry ns/legacy from b" in view.reason and "outside the zone" in view.reason
    assert table.lookup("legacy.global") is not None  # its host in the zone is named
    assert table.skipped[Unfit.OUTSIDE_ZONE] == 1
    table.put_entry("b", "ns/legacy", None)
    table.commit()
    assert table.lookup("legacy.example.com") is None


def test_table_name_explains_a_name_below_a_wildcard_by_the_wildcard(table: Table) -> None:
    view = table.lookup("_http._tcp.A.B.shard.global")
    assert view is not None
    assert (view.name, view.addresses) == ("a.b.shard", ("240.0.0.9",))
    assert view.reason.endswith("by the wildcard *.shard.global")
    assert table.lookup("a.exact.shard.global") is None  # the closest encloser stops it
    assert render.as_text([view], "global").splitlines()[2].split()[:2] == [
        "_http._tcp.a.b.shard.global.",
        "SRV",
    ]


def _ask(labels: list[bytes], qtype: str) -> dns.message.Message:
    query = dns.message.make_query(dns.name.Name([*labels, b"shard", b"global", b""]), qtype)
    reply = Responder(TABLE.zone).respond(query.to_wire(), udp=False)
    assert reply is not None
    return dns.message.from_wire(reply)


@pytest.mark.parametrize("qtype", ["A", "SRV"])
def test_below_the_wildcard_owner_itself_nothing_is_synthesized(qtype: str) -> None:
    """`*.shard.global` is a name that exists: it is the closest encloser of a name below it,
    whose wildcard would be `*.*.shard.global` (RFC 4592 §2.2.1), so NSD answers NXDOMAIN."""
    assert _ask([b"*"], "A").rcode() == dns.rcode.NOERROR  # the owner asked as it is spelled
    for labels in ([b"a", b"*"], [b"_http", b"_tcp", b"*"]):
        assert _ask(labels, qtype).rcode() == dns.rcode.NXDOMAIN


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=3))
def test_any_labels_a_question_can_hold_below_a_wildcard_are_answered_as_sent(
    labels: list[bytes],
) -> None:
    """Dots, NULs and high bytes inside a label included: the SRV target is the question's own
    labels in wire form (lower-cased), never text read back. (A name below the `*` owner
    itself is the test above's.)"""
    assume(labels[-1] != b"*")
    table = TABLE
    below = b"".join(bytes((len(label),)) + label for label in labels)
    parent = b"\x05shard\x06global\x00"
    for prefix, qtype in ((b"", b"\x00\x01"), (b"\x05_http\x04_tcp", b"\x00\x21")):
        query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + prefix + below + parent
        reply = Responder(table.zone).respond(query + qtype + b"\x00\x01", udp=False)
        assert reply is not None
        message = dns.message.from_wire(reply)
        assert (message.rcode(), len(message.answer)) == (dns.rcode.NOERROR, 1)
        if prefix:
            (srv,) = message.answer[0]
            assert srv.target.to_wire() == (below + parent).lower()
