"""SPEC §7's zone-wide rules, once per feed (exports and imports), over real sockets against
the emulator: the same headless service, fed one way or the other, gives the same zone shape:
`dns-version`, SOA and NS at the apex, NXDOMAIN and NODATA with the SOA, TTL 5 s, per-pod
names, and no record at `<clusterid>.<svc>.<ns>.svc.clusterset.local`."""

from __future__ import annotations

from collections.abc import Callable

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from tests.clusterset.test_kubernetes_exports import pod_slice, service_export
from tests.clusterset.test_kubernetes_imports import imported_slice, service_import
from tests.kubernetes.conftest import Mesh, service

APEX = "clusterset.local"
SERVICE = f"db.bar.svc.{APEX}"


def exported(mesh: Mesh) -> str:
    """`db` exported by the local cluster `a`, one pod `db-0`; returns its cluster id."""
    local = mesh.cluster("a", "west", "192.0.2.1")
    mesh.serve([local], local)
    mesh.put(local, service("bar", "db", headless=True), service_export("bar", "db"))
    mesh.put(local, pod_slice("bar", "db", ("db-0", "10.244.1.1")))
    return local


def imported(mesh: Mesh) -> str:
    """`db` imported from cluster `east`, one pod `db-0`; returns its cluster id."""
    local = mesh.cluster("a", "west", "192.0.2.1")
    mesh.serve([local], local, "--mcs-imports")
    mesh.put(local, service_import("db", "Headless"))
    mesh.put(local, imported_slice("db", "east", ("db-0", "10.244.1.1")))
    return "east"


FEEDS: dict[str, Callable[[Mesh], str]] = {"exports": exported, "imports": imported}


@pytest.fixture(params=sorted(FEEDS))
def fed(request: pytest.FixtureRequest, mesh: Mesh) -> tuple[Mesh, str]:
    """The server, once `db` and its per-pod name answer; the pod's cluster id."""
    cluster = FEEDS[request.param](mesh)
    mesh.wait_answer(f"db-0.{cluster}.{SERVICE}", ["10.244.1.1"])
    return mesh, cluster


def ask(mesh: Mesh, name: str, rdtype: str = "A") -> dns.message.Message:
    assert mesh.server is not None
    return mesh.server.ask(name, rdtype)


def negative(reply: dns.message.Message) -> tuple[int, bool, list[int]]:
    """(rcode, answer empty, the authority section's types): NSD's negative answer shape."""
    return reply.rcode(), not reply.answer, [rrset.rdtype for rrset in reply.authority]


def test_dns_version_answers_the_schema_version(fed: tuple[Mesh, str]) -> None:
    (rrset,) = ask(fed[0], f"dns-version.{APEX}", "TXT").answer
    assert [rdata.to_text() for rdata in rrset] == ['"1.0.0"']


def test_the_apex_has_its_soa_and_ns(fed: tuple[Mesh, str]) -> None:
    assert ask(fed[0], APEX, "SOA").answer[0].rdtype == dns.rdatatype.SOA
    assert ask(fed[0], APEX, "NS").answer[0].rdtype == dns.rdatatype.NS


def test_a_name_nobody_holds_is_nxdomain_with_the_soa(fed: tuple[Mesh, str]) -> None:
    reply = ask(fed[0], f"nothere.bar.svc.{APEX}")
    assert negative(reply) == (dns.rcode.NXDOMAIN, True, [dns.rdatatype.SOA])


def test_a_type_the_name_lacks_is_nodata_with_the_soa(fed: tuple[Mesh, str]) -> None:
    reply = ask(fed[0], SERVICE, "AAAA")
    assert negative(reply) == (dns.rcode.NOERROR, True, [dns.rdatatype.SOA])


def test_answers_live_five_seconds(fed: tuple[Mesh, str]) -> None:
    mesh, cluster = fed
    assert {ask(mesh, name).answer[0].ttl for name in (SERVICE, f"db-0.{cluster}.{SERVICE}")} == {5}


def test_the_cluster_id_under_the_service_holds_no_record(fed: tuple[Mesh, str]) -> None:
    mesh, cluster = fed
    reply = ask(mesh, f"{cluster}.{SERVICE}")  # an empty non-terminal above db-0's name
    assert negative(reply) == (dns.rcode.NOERROR, True, [dns.rdatatype.SOA])
