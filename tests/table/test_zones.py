"""One index, several zones: a second naming scheme compiles its own zone from the same facts."""

from __future__ import annotations

import dns.message
import dns.rcode

from globaldns.dns.responder import Responder
from globaldns.dns.zone import ZoneConfig
from globaldns.table.model import Cluster, GatewayHealth, Instance
from globaldns.table.table import Table


class ServicesOnly:
    """A scheme that names services by their host and nothing else (no pins, no entries)."""

    def service(self, host: str) -> str:
        return host

    def cluster_pin(self, host: str, cluster: str) -> None:
        return None

    def region_pin(self, host: str, region: str) -> None:
        return None

    def entry(self, host: str) -> None:
        return None


def answer(table: Table, zone: int, name: str) -> tuple[int, list[str]]:
    """The rcode and addresses the table's `zone`-th zone answers `name` A with."""
    reply = Responder(table.pipelines[zone].zone).respond(
        dns.message.make_query(name, "A").to_wire(), True
    )
    parsed = dns.message.from_wire(reply or b"")
    return parsed.rcode(), sorted(rr.to_text() for rrset in parsed.answer for rr in rrset)


def mesh() -> Table:
    table = Table(ZoneConfig(), "a", zones=[(ZoneConfig(zone="example"), ServicesOnly())])
    table.put_cluster(Cluster("a", "west", ("192.0.2.1",)))
    table.put_cluster(Cluster("b", "east", ("192.0.2.2",)))
    table.put_instance("b", "ns/foo", Instance("foo", ("10.1.0.1",), 1))
    table.commit()
    return table


def test_a_second_scheme_answers_the_same_service_in_its_own_zone() -> None:
    table = mesh()
    assert answer(table, 0, "foo.global.") == (dns.rcode.NOERROR, ["192.0.2.2"])
    assert answer(table, 1, "foo.example.") == (dns.rcode.NOERROR, ["192.0.2.2"])


def test_a_second_scheme_has_only_the_names_it_makes() -> None:
    table = mesh()
    assert answer(table, 0, "foo-b.global.") == (dns.rcode.NOERROR, ["192.0.2.2"])
    assert answer(table, 1, "foo-b.example.")[0] == dns.rcode.NXDOMAIN


def test_a_change_to_the_index_reaches_every_zone() -> None:
    table = mesh()
    table.put_cluster(Cluster("c", "east", ("192.0.2.3",)))
    table.put_instance("c", "ns/foo", Instance("foo", ("10.2.0.1",), 1))
    table.put_gateway_health("b", "192.0.2.2", GatewayHealth(False, 1.0, "refused 3 times"))
    assert table.commit()
    for zone, name in ((0, "foo.global."), (1, "foo.example.")):
        assert answer(table, zone, name) == (dns.rcode.NOERROR, ["192.0.2.3"])
