"""SPEC §7 as behaviours of a running server: `clusterset.local` beside `global.`, fed by a
mesh file whose services are exported (the exports feed's records, whatever the source)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator

import dns.rcode
import dns.rdatatype
import pytest

from harness import REPO, GlobalDns, addresses

GW_EAST = "192.0.2.3"
MESH: dict = {
    "zone": "global",
    "localCluster": "west",
    "clusters": [
        {"name": "west", "region": "w", "gateways": ["192.0.2.1"]},
        {"name": "east", "region": "e", "gateways": [GW_EAST]},
    ],
    "services": [
        {
            "name": "web.shop",
            "export": True,
            "ports": [{"name": "http", "port": 80}, {"port": 9090}],
            "instances": {
                "west": {"addresses": ["10.0.0.10"], "ready": 1},
                "east": {"addresses": ["10.1.0.10"], "ready": 1},
            },
        },
        {
            "name": "api.shop",  # not ready here: the remote tier, as for global
            "export": True,
            "instances": {
                "west": {"addresses": ["10.0.0.11"], "ready": 0},
                "east": {"addresses": ["10.1.0.11"], "ready": 2},
            },
        },
        {
            "name": "db.shop",
            "export": {"headless": True},
            "ports": [{"name": "pg", "port": 5432}],
            "instances": {
                "west": {
                    "addresses": ["10.0.3.1"],
                    "endpoints": [{"hostname": "db-0", "addresses": ["10.0.3.1"]}],
                },
                "east": {
                    "addresses": ["10.1.3.1", "fd00::31"],
                    "endpoints": [{"hostname": "db-0", "addresses": ["10.1.3.1", "fd00::31"]}],
                },
            },
        },
        {
            "name": "cold.shop",  # headless, no ready endpoint anywhere
            "export": {"headless": True},
            "instances": {"west": {"addresses": [], "ready": 0}},
        },
        {
            "name": "private.shop",  # not exported: global only
            "instances": {"west": {"addresses": ["10.0.0.12"], "ready": 1}},
        },
    ],
}
ZONE = "svc.clusterset.local"


@pytest.fixture(scope="module")
def server() -> Iterator[GlobalDns]:
    ours = GlobalDns(MESH).start()
    yield ours
    ours.stop()


def test_dns_version_is_the_schema_version_1_0_0(server: GlobalDns) -> None:
    reply = server.ask("dns-version.clusterset.local", "TXT")
    assert [rr.to_text() for rrset in reply.answer for rr in rrset] == ['"1.0.0"']


def test_the_apex_has_soa_and_ns(server: GlobalDns) -> None:
    assert server.ask("clusterset.local", "SOA").answer[0].rdtype == dns.rdatatype.SOA
    assert server.ask("clusterset.local", "NS").answer[0].rdtype == dns.rdatatype.NS


def test_an_unknown_name_is_nxdomain_with_the_soa(server: GlobalDns) -> None:
    reply = server.ask(f"nope.shop.{ZONE}")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.authority[0].rdtype == dns.rdatatype.SOA
    assert str(reply.authority[0].name) == "clusterset.local."


def test_a_name_without_the_type_is_nodata_with_the_soa(server: GlobalDns) -> None:
    reply = server.ask(f"web.shop.{ZONE}", "AAAA")
    assert (reply.rcode(), reply.answer) == (dns.rcode.NOERROR, [])
    assert reply.authority[0].rdtype == dns.rdatatype.SOA


def test_clusterset_ip_answers_the_local_cluster_ip_first(server: GlobalDns) -> None:
    assert addresses(server.ask(f"web.shop.{ZONE}")) == ["10.0.0.10"]


def test_clusterset_ip_not_ready_here_answers_the_remote_gateways(server: GlobalDns) -> None:
    assert addresses(server.ask(f"api.shop.{ZONE}")) == [GW_EAST]


def test_srv_per_named_port_targets_the_service_name(server: GlobalDns) -> None:
    reply = server.ask(f"_http._tcp.web.shop.{ZONE}", "SRV")
    assert addresses(reply) == [f"0 100 80 web.shop.{ZONE}."]
    assert [rr.to_text() for rrset in reply.additional for rr in rrset] == ["10.0.0.10"]


def test_an_unnamed_port_has_no_srv(server: GlobalDns) -> None:
    assert server.ask(f"_9090._tcp.web.shop.{ZONE}", "SRV").rcode() == dns.rcode.NXDOMAIN


def test_headless_answers_every_clusters_ready_endpoints(server: GlobalDns) -> None:
    assert sorted(addresses(server.ask(f"db.shop.{ZONE}"))) == ["10.0.3.1", "10.1.3.1"]
    assert addresses(server.ask(f"db.shop.{ZONE}", "AAAA")) == ["fd00::31"]


def test_headless_with_no_ready_endpoint_is_nxdomain(server: GlobalDns) -> None:
    assert server.ask(f"cold.shop.{ZONE}").rcode() == dns.rcode.NXDOMAIN


def test_a_per_pod_name_answers_that_endpoint_of_that_cluster(server: GlobalDns) -> None:
    assert addresses(server.ask(f"db-0.east.db.shop.{ZONE}")) == ["10.1.3.1"]
    assert addresses(server.ask(f"db-0.east.db.shop.{ZONE}", "AAAA")) == ["fd00::31"]
    assert addresses(server.ask(f"db-0.west.db.shop.{ZONE}")) == ["10.0.3.1"]


def test_headless_srv_is_one_per_ready_endpoint_targeting_its_per_pod_name(
    server: GlobalDns,
) -> None:
    reply = server.ask(f"_pg._tcp.db.shop.{ZONE}", "SRV")
    assert sorted(addresses(reply)) == [
        f"0 100 5432 db-0.east.db.shop.{ZONE}.",
        f"0 100 5432 db-0.west.db.shop.{ZONE}.",
    ]
    extra = {(str(rrset.name), rr.to_text()) for rrset in reply.additional for rr in rrset}
    assert (f"db-0.east.db.shop.{ZONE}.", "fd00::31") in extra


def test_the_cluster_name_under_a_service_holds_no_record(server: GlobalDns) -> None:
    reply = server.ask(f"east.db.shop.{ZONE}")
    assert (reply.rcode(), reply.answer) == (dns.rcode.NOERROR, [])  # an empty non-terminal


def test_a_service_not_exported_is_only_in_global(server: GlobalDns) -> None:
    assert server.ask(f"private.shop.{ZONE}").rcode() == dns.rcode.NXDOMAIN
    assert addresses(server.ask("private.shop.global")) == ["10.0.0.12"]


def test_exported_services_keep_their_global_names(server: GlobalDns) -> None:
    assert addresses(server.ask("web.shop.global")) == ["10.0.0.10"]


def test_the_ttl_is_5_seconds_by_default(server: GlobalDns) -> None:
    assert server.ask(f"web.shop.{ZONE}").answer[0].ttl == 5


def test_the_ttl_is_configurable() -> None:
    ours = GlobalDns(MESH, ["--clusterset-ttl", "30"]).start()
    try:
        assert ours.ask(f"web.shop.{ZONE}").answer[0].ttl == 30
        assert ours.ask("web.shop.global").answer[0].ttl == 5
    finally:
        ours.stop()


def test_without_the_clusterset_its_questions_are_refused() -> None:
    ours = GlobalDns(MESH, ["--no-clusterset"]).start()
    try:
        assert ours.ask(f"web.shop.{ZONE}").rcode() == dns.rcode.REFUSED
    finally:
        ours.stop()


def test_an_export_added_by_a_reload_is_answered(server: GlobalDns) -> None:
    mesh = copy.deepcopy(MESH)
    mesh["services"][4]["export"] = True
    ours = GlobalDns(MESH).start()
    try:
        ours.reload(mesh)
        assert addresses(ours.ask(f"private.shop.{ZONE}")) == ["10.0.0.12"]
    finally:
        ours.stop()


def _answered(server: GlobalDns, zone: str, tier: str) -> float:
    wanted = f'globaldns_answers_total{{tier="{tier}",zone="{zone}"}} '
    line = next(x for x in server.http("/metrics")[1].splitlines() if x.startswith(wanted))
    return float(line.rsplit(" ", 1)[1])


def test_answers_are_counted_by_zone(server: GlobalDns) -> None:
    before = _answered(server, "clusterset.local", "local"), _answered(server, "global", "local")
    server.ask(f"web.shop.{ZONE}")
    server.ask(f"web.shop.{ZONE}", tcp=True)
    after = _answered(server, "clusterset.local", "local"), _answered(server, "global", "local")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 0)


def test_the_table_listing_shows_clusterset_names_in_their_zone(server: GlobalDns) -> None:
    rows = json.loads(server.http("/table")[1])["names"]
    listed = {row["name"]: row for row in rows}
    assert listed[f"db-0.east.db.shop.{ZONE}."]["addresses"] == ["10.1.3.1", "fd00::31"]
    assert listed["web.shop.global."]["tier"] == "local"


def test_a_zone_overlapping_the_clusterset_zone_is_refused_at_start() -> None:
    command = ["table", "--mesh", str(REPO / "examples" / "mesh.yaml"), "--zone", "local"]
    done = subprocess.run(
        [sys.executable, "-m", "globaldns", *command], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 2
    assert "--zone local and --clusterset-zone clusterset.local overlap" in done.stderr
