"""For random sets of exact and wildcard entry hosts and of Services (whose names pinned to their
cluster are compiled only when asked), every question answers as an independent reading of
RFC 4592 over the same names says: the name's own records (an entry's before a Service's),
NODATA at an empty non-terminal, else the wildcard of the closest encloser, else NXDOMAIN."""

from __future__ import annotations

import dns.message
import dns.rcode
from hypothesis import example, given, settings
from hypothesis import strategies as st

from globaldns.dns.responder import Responder
from globaldns.dns.zone import ZoneConfig
from globaldns.table.model import Cluster, Entry, Instance
from globaldns.table.table import Table

LABELS = ("a", "b", "c", "ab")
names = st.lists(st.sampled_from(LABELS), min_size=1, max_size=3).map(".".join)
hosts = st.tuples(st.booleans(), names).map(lambda w: f"*.{w[1]}" if w[0] else w[1])
questions = st.lists(
    st.sampled_from((*LABELS, "*", "a-west", "b-west")), min_size=1, max_size=4
).map(".".join)


def pinned(host: str) -> str:
    """A Service's name pinned to its cluster `west`: the suffix after its first label."""
    first, _, rest = host.partition(".")
    return f"{first}-west.{rest}".rstrip(".")


def expected(held: dict[str, str], question: str) -> tuple[str, list[str]]:
    """RFC 4592 §3.3.1 over the held names (relative to the zone): rcode and addresses."""
    existing = {".".join(h.split(".")[i:]) for h in held for i in range(len(h.split(".")))}
    if question in held:
        return "NOERROR", [held[question]]
    if question in existing:
        return "NOERROR", []  # an empty non-terminal
    labels = question.split(".")
    encloser = next(
        (".".join(labels[i:]) for i in range(1, len(labels)) if ".".join(labels[i:]) in existing),
        "",
    )
    wildcard = held.get(f"*.{encloser}") if encloser else None
    return ("NOERROR", [wildcard]) if wildcard else ("NXDOMAIN", [])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(hosts, min_size=1, max_size=6, unique=True),
    st.lists(names, max_size=3, unique=True),
    st.lists(questions, max_size=12),
)
@example(held=["*.b"], services=["a.b"], asked=["c.a-west.b"])  # below a pinned name not compiled
def test_answers_are_rfc_4592s_over_the_same_names(
    held: list[str], services: list[str], asked: list[str]
) -> None:
    table = Table(ZoneConfig(), local_cluster="west")
    table.put_cluster(Cluster("west"))
    addresses = {host: f"240.0.0.{i + 1}" for i, host in enumerate(held)}
    for host, address in addresses.items():
        table.put_entry("west", host, Entry((host,), (address,)))
    for i, host in enumerate(services):
        address = f"10.0.0.{i + 1}"
        table.put_instance("west", host, Instance(host, (address,), 1))
        addresses.setdefault(host, address)  # an entry's host beats a Service's name
        addresses.setdefault(pinned(host), address)
    table.commit()
    responder = Responder(table.zone)
    for question in [*asked, *addresses]:
        query = dns.message.make_query(f"{question}.global", "A", use_edns=False)
        reply = dns.message.from_wire(responder.respond(query.to_wire(), udp=True) or b"")
        got = sorted(rr.to_text() for rrset in reply.answer for rr in rrset)
        assert (dns.rcode.to_text(reply.rcode()), got) == expected(addresses, question), question
