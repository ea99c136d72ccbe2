"""Wildcard ServiceEntry hosts served from a mesh file by a running globaldns, over UDP (both
loops: the compiled one hands misses to Python) and TCP: depth 1 and 3, an exact name first,
SRV by the entry's ports, the question's own letter case echoed (DNS 0x20)."""

from __future__ import annotations

from collections.abc import Iterator

import dns.message
import dns.rcode
import pytest

from harness import GlobalDns
from tests.dns import udp_loops
from tests.dns.udp_loops import UDP_LOOPS

MESH = {
    "zone": "global",
    "localCluster": "a",
    "clusters": [{"name": "a", "gateways": ["192.0.2.1"]}],
    "serviceEntries": [
        {
            "hosts": ["*.shard.global"],
            "addresses": ["240.0.0.9", "fd00::9"],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        },
        {"hosts": ["exact.shard.global"], "addresses": ["240.0.0.10"]},
    ],
}


@pytest.fixture(scope="module", params=UDP_LOOPS)
def server(request: pytest.FixtureRequest) -> Iterator[GlobalDns]:
    srv = udp_loops.start(GlobalDns(MESH), request.param)
    yield srv
    srv.stop()


def records(reply: dns.message.Message, section: str = "answer") -> list[str]:
    return sorted(rr.to_text() for rr in getattr(reply, section))


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("name", ["a.shard.global", "x.y.z.shard.global"])
def test_a_wildcard_answers_every_depth_below_its_parent(
    server: GlobalDns, name: str, tcp: bool
) -> None:
    for _ in range(2):  # over UDP the second comes from the memo
        assert records(server.ask(name, tcp=tcp)) == [f"{name}. 5 IN A 240.0.0.9"]
        assert records(server.ask(name, "AAAA", tcp=tcp)) == [f"{name}. 5 IN AAAA fd00::9"]


def test_an_exact_name_beats_the_wildcard_and_stops_it_below(server: GlobalDns) -> None:
    assert records(server.ask("exact.shard.global")) == ["exact.shard.global. 5 IN A 240.0.0.10"]
    assert server.ask("a.exact.shard.global").rcode() == dns.rcode.NXDOMAIN


def test_the_wildcards_parent_is_an_empty_non_terminal(server: GlobalDns) -> None:
    reply = server.ask("shard.global")
    assert (reply.rcode(), reply.answer, len(reply.authority)) == (dns.rcode.NOERROR, [], 1)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_wildcard_srv_targets_the_name_below_its_port_labels(
    server: GlobalDns, tcp: bool
) -> None:
    reply = server.ask("_http._tcp.b.c.shard.global", "SRV", tcp=tcp)
    assert records(reply) == ["_http._tcp.b.c.shard.global. 5 IN SRV 0 100 80 b.c.shard.global."]
    assert records(reply, "additional") == [
        "b.c.shard.global. 5 IN A 240.0.0.9",
        "b.c.shard.global. 5 IN AAAA fd00::9",
    ]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_wildcard_answer_echoes_the_questions_letter_case(server: GlobalDns, tcp: bool) -> None:
    for name in ("sHaRd-1.ShArD.gLoBaL", "SHARD-1.SHARD.GLOBAL", "_HTTP._Tcp.Q.shard.GLOBAL"):
        rdtype = "SRV" if name.startswith("_") else "A"
        reply = server.ask(name, rdtype, tcp=tcp)
        assert [str(q.name) for q in reply.question] == [f"{name}."]
        assert [str(rrset.name) for rrset in reply.answer] == [f"{name}."]


def test_a_reload_with_an_exact_name_below_the_wildcard_wins_at_once(server: GlobalDns) -> None:
    assert records(server.ask("late.shard.global")) == ["late.shard.global. 5 IN A 240.0.0.9"]
    late = {"hosts": ["late.shard.global"], "addresses": ["240.0.0.12"]}
    server.reload({**MESH, "serviceEntries": [*MESH["serviceEntries"], late]})
    try:
        assert records(server.ask("late.shard.global")) == ["late.shard.global. 5 IN A 240.0.0.12"]
    finally:
        server.reload(MESH)
    assert records(server.ask("late.shard.global")) == ["late.shard.global. 5 IN A 240.0.0.9"]
