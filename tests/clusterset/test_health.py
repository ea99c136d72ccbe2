"""A ClusterSetIP name follows gateway health as `.global` names do (SPEC §2 through §7): the
clusterset zone recompiles when the index judges a gateway otherwise."""

from __future__ import annotations

import dns.message

from globaldns.dns.responder import Responder
from globaldns.dns.zone import ZoneConfig
from globaldns.table.model import Cluster, Export, GatewayHealth, Instance, ServiceKind
from globaldns.table.table import Table

NAME = "web.bar.svc.clusterset.local"


def _table() -> Table:
    table = Table(ZoneConfig(), "here", clusterset=ZoneConfig(zone="clusterset.local"))
    table.put_cluster(Cluster("here", "west"))
    for cluster, gateway in (("b", "192.0.2.2"), ("c", "192.0.2.3")):
        table.put_cluster(Cluster(cluster, "east", (gateway,)))
        table.put_instance(cluster, "bar/web", Instance("web.bar", ("10.0.0.1",), 1))
        export = Export("web", "bar", "web.bar", ServiceKind.CLUSTERSET_IP, ("10.0.0.1",), 1)
        table.put_export(cluster, "bar/web", export)
    table.commit()
    return table


def _answer(table: Table) -> list[str]:
    assert table.clusterset is not None
    responder = Responder(table.zone, others=(table.clusterset.zone,))
    reply = responder.respond(dns.message.make_query(NAME, "A").to_wire(), udp=False) or b""
    return sorted(rr.to_text() for rrset in dns.message.from_wire(reply).answer for rr in rrset)


def test_a_gateway_going_down_leaves_the_clusterset_answer() -> None:
    table = _table()
    assert _answer(table) == ["192.0.2.2", "192.0.2.3"]
    table.put_gateway_health("b", "192.0.2.2", GatewayHealth(False, 1.0, "refused 3 times"))
    table.commit()
    assert _answer(table) == ["192.0.2.3"]


def test_every_gateway_down_fails_open() -> None:
    table = _table()
    for cluster, gateway in (("b", "192.0.2.2"), ("c", "192.0.2.3")):
        table.put_gateway_health(cluster, gateway, GatewayHealth(False, 1.0, "refused"))
    table.commit()
    assert _answer(table) == ["192.0.2.2", "192.0.2.3"]


def test_a_dropped_cluster_takes_its_export_along() -> None:
    table = _table()
    table.drop_cluster("b")
    table.commit()
    assert _answer(table) == ["192.0.2.3"]
