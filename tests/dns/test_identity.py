"""SPEC §3: CH TXT id.server and hostname.bind name the replica, version.bind the version unless
hidden, NSID when asked; NSD configured with the same identity answers the same."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from globaldns import __version__
from harness import GlobalDns
from harness.meshes import MESH
from tests.dns import udp_loops
from tests.dns.test_differential_nsd import normalised
from tests.dns.udp_loops import UDP_LOOPS
from tests.support import Nsd

POD = "globaldns-7c9f-x2k"
VERSION = f"globaldns {__version__}"
ZONE = "$ORIGIN global.\n$TTL 5\n@ IN SOA a. b. 1 2 3 4 5\n@ IN NS a.\nfoo IN A 10.0.0.1\n"


@pytest.fixture(scope="module", params=UDP_LOOPS)
def server(request: pytest.FixtureRequest) -> Iterator[GlobalDns]:
    srv = udp_loops.start(GlobalDns(MESH, args=["--server-id", POD]), request.param)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def nsd() -> Iterator[Nsd]:
    """NSD with the same identity, NSID and version."""
    made = Nsd("global", ZONE, identity=POD, version=VERSION)
    yield made
    made.stop()


def chaos(port: int, name: str, rdtype: str = "TXT", **kwargs: object) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, rdclass="CH", **kwargs)  # type: ignore[arg-type]
    return dns.query.udp(query, "127.0.0.1", port=port, timeout=2)


def txt(reply: dns.message.Message) -> list[str]:
    return [b"".join(rr.strings).decode() for rrset in reply.answer for rr in rrset]


def nsid(reply: dns.message.Message) -> bytes | None:
    found = [o for o in reply.options if o.otype == dns.edns.NSID]
    return found[0].to_wire() if found else None  # type: ignore[union-attr]


def asking_nsid(name: str, rdtype: str = "A") -> dns.message.Message:
    return dns.message.make_query(
        name, rdtype, use_edns=0, options=[dns.edns.GenericOption(dns.edns.NSID, b"")]
    )


@pytest.mark.parametrize("name", ["id.server", "hostname.bind", "ID.Server"])
def test_identity_names_answer_the_server_id(server: GlobalDns, name: str) -> None:
    reply = chaos(server.port, name)
    assert reply.rcode() == dns.rcode.NOERROR and txt(reply) == [POD]
    assert not reply.flags & dns.flags.AA and reply.answer[0].ttl == 0


@pytest.mark.parametrize("name", ["version.bind", "version.server"])
def test_version_names_answer_the_version(server: GlobalDns, name: str) -> None:
    assert txt(chaos(server.port, name)) == [VERSION]


@pytest.mark.parametrize(("name", "rdtype"), [("authors.bind", "TXT"), ("id.server", "A")])
def test_other_chaos_questions_are_refused(server: GlobalDns, name: str, rdtype: str) -> None:
    assert chaos(server.port, name, rdtype).rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize("name", ["foo.global", "nope.global", "example.com"])
def test_nsid_is_the_server_id_when_asked(server: GlobalDns, name: str) -> None:
    for tcp in (False, True):
        ask = dns.query.tcp if tcp else dns.query.udp
        assert nsid(ask(asking_nsid(name), "127.0.0.1", port=server.port, timeout=2)) == (
            POD.encode()
        )


def test_no_nsid_unless_asked(server: GlobalDns) -> None:
    assert nsid(server.ask("foo.global")) is None


def test_table_names_the_server(server: GlobalDns) -> None:
    document = json.loads(server.http("/table")[1])
    assert document["server"]["id"] == POD and document["server"]["version"] == __version__


def test_the_pod_name_is_the_default_server_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTNAME", "globaldns-5d8b-abcde")
    srv = GlobalDns(MESH).start()
    try:
        assert txt(chaos(srv.port, "id.server")) == ["globaldns-5d8b-abcde"]
    finally:
        srv.stop()


def test_hidden_identity_and_version_are_refused_as_nsd_refuses_them() -> None:
    srv = GlobalDns(MESH, args=["--hide-identity", "--hide-version"]).start()
    hidden = Nsd("global", ZONE)
    try:
        for name in ("id.server", "hostname.bind", "version.bind", "version.server"):
            mine, theirs = chaos(srv.port, name), chaos(hidden.port, name)
            assert mine.rcode() == dns.rcode.REFUSED
            assert normalised(mine) == normalised(theirs)
        asked = asking_nsid("foo.global")
        assert nsid(dns.query.udp(asked, "127.0.0.1", port=srv.port, timeout=2)) is None
    finally:
        hidden.stop()
        srv.stop()


DIFFERENTIAL = [
    ("id.server", "TXT", "CH"),
    ("hostname.bind", "TXT", "CH"),
    ("Version.Bind", "TXT", "CH"),
    ("version.server", "ANY", "CH"),
    ("id.server", "A", "CH"),
    ("authors.bind", "TXT", "CH"),
    ("foo.global", "TXT", "CH"),
    ("id.server", "TXT", "IN"),
    ("foo.global", "A", "IN"),
    ("nope.global", "A", "IN"),
]


@pytest.mark.parametrize(("name", "rdtype", "rdclass"), DIFFERENTIAL)
@pytest.mark.parametrize("asked", [False, True], ids=["plain", "nsid"])
def test_identity_answers_are_those_of_nsd(
    server: GlobalDns, nsd: Nsd, name: str, rdtype: str, rdclass: str, asked: bool
) -> None:
    query = asking_nsid(name, rdtype) if asked else dns.message.make_query(name, rdtype)
    query.question[0].rdclass = dns.rdataclass.from_text(rdclass)
    replies = [
        dns.query.udp(query, "127.0.0.1", port=port, timeout=2) for port in (server.port, nsd.port)
    ]
    mine, theirs = ({**normalised(r), "nsid": nsid(r)} for r in replies)
    if rdclass == "IN" and name.endswith(".global"):  # the zones differ: compare the rest
        mine, theirs = ({k: v[k] for k in ("rcode", "flags", "nsid")} for v in (mine, theirs))
    assert mine == theirs
