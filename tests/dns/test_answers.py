"""SPEC §1 and §2 as behaviours of a running server fed by a mesh file."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import dns.rcode
import pytest

from harness import GlobalDns, addresses

LOCAL = "10.0.0.10"
GW = {
    "uswest2": "192.0.2.1",
    "uswest1": "192.0.2.2",
    "useast2": "192.0.2.3",
    "euwest1": "192.0.2.4",
}
GW6_EAST = "2001:db8::3"

BASE: dict = {
    "zone": "global",
    "ttl": 5,
    "localCluster": "uswest2",
    "clusters": [
        {"name": "uswest2", "region": "west", "gateways": [GW["uswest2"]]},
        {"name": "uswest1", "region": "west", "gateways": [GW["uswest1"]]},
        {"name": "useast2", "region": "east", "gateways": [GW["useast2"], GW6_EAST]},
        {"name": "euwest1", "region": "eu", "gateways": [GW["euwest1"]]},
    ],
    "services": [],
    "serviceEntries": [{"hosts": ["legacy.db.global"], "addresses": ["240.0.0.2", "fd00::2"]}],
}


def mesh_with(ready: dict[str, int], name: str = "foo", **extra: object) -> dict:
    """A mesh where service `name` runs in the given clusters with these ready counts."""
    mesh = copy.deepcopy(BASE)
    mesh["services"].append(
        {
            "name": name,
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            "instances": {
                cluster: {
                    "addresses": [LOCAL if cluster == "uswest2" else "10.9.9.9"],
                    "ready": count,
                }
                for cluster, count in ready.items()
            },
        }
    )
    mesh.update(extra)
    return mesh


ALL_READY = {"uswest2": 2, "uswest1": 1, "useast2": 1, "euwest1": 1}


@pytest.fixture(scope="module")
def server() -> Iterator[GlobalDns]:
    srv = GlobalDns(mesh_with(ALL_READY)).start()
    yield srv
    srv.stop()


def answer(server: GlobalDns, name: str, rdtype: str = "A") -> list[str]:
    return sorted(addresses(server.ask(name, rdtype)))


def test_local_cluster_with_ready_endpoints_answers_its_cluster_ip(server: GlobalDns) -> None:
    server.reload(mesh_with(ALL_READY))
    assert answer(server, "foo.global") == [LOCAL]


def test_without_local_ready_endpoints_same_region_gateways_answer(server: GlobalDns) -> None:
    server.reload(mesh_with({**ALL_READY, "uswest2": 0}))
    reply = server.ask("foo.global")
    got = addresses(reply)
    assert got[0] == GW["uswest1"]
    assert sorted(got) == sorted([GW["uswest1"], GW["useast2"], GW["euwest1"]])


def test_same_region_gateways_lead_every_rotated_answer(server: GlobalDns) -> None:
    server.reload(mesh_with({**ALL_READY, "uswest2": 0}))
    firsts = {addresses(server.ask("foo.global"))[0] for _ in range(6)}
    assert firsts == {GW["uswest1"]}


def test_other_regions_answer_when_the_region_has_no_ready_endpoint(server: GlobalDns) -> None:
    server.reload(mesh_with({**ALL_READY, "uswest2": 0, "uswest1": 0}))
    assert answer(server, "foo.global") == sorted([GW["useast2"], GW["euwest1"]])


def test_other_region_records_rotate_between_queries(server: GlobalDns) -> None:
    server.reload(mesh_with({**ALL_READY, "uswest2": 0, "uswest1": 0}))
    firsts = {addresses(server.ask("foo.global"))[0] for _ in range(4)}
    assert firsts == {GW["useast2"], GW["euwest1"]}


def test_nobody_ready_fails_open_to_the_local_cluster(server: GlobalDns) -> None:
    server.reload(mesh_with(dict.fromkeys(ALL_READY, 0)))
    assert answer(server, "foo.global") == [LOCAL]


def test_nobody_ready_and_no_local_instance_fails_open_to_every_gateway(server: GlobalDns) -> None:
    server.reload(mesh_with({"useast2": 0, "euwest1": 0}))
    assert answer(server, "foo.global") == sorted([GW["useast2"], GW["euwest1"]])


def test_tier_is_chosen_per_name_so_aaaa_is_nodata_when_local_has_only_ipv4(
    server: GlobalDns,
) -> None:
    server.reload(mesh_with(ALL_READY))
    reply = server.ask("foo.global", "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer == []
    assert reply.authority[0].rdtype == dns.rdatatype.SOA


def test_remote_tier_answers_aaaa_from_ipv6_gateways(server: GlobalDns) -> None:
    server.reload(mesh_with({"useast2": 1}))
    assert answer(server, "foo.global", "AAAA") == [GW6_EAST]


def test_cluster_pinned_name_answers_the_local_cluster_with_its_own_addresses(
    server: GlobalDns,
) -> None:
    server.reload(mesh_with(ALL_READY))
    assert answer(server, "foo-uswest2.global") == [LOCAL]


def test_cluster_pinned_name_answers_a_remote_cluster_with_its_gateways(server: GlobalDns) -> None:
    server.reload(mesh_with(ALL_READY))
    assert answer(server, "foo-useast2.global") == [GW["useast2"]]


def test_pinned_name_never_leaves_its_cluster_when_unhealthy(server: GlobalDns) -> None:
    server.reload(mesh_with({**ALL_READY, "useast2": 0}))
    assert answer(server, "foo-useast2.global") == [GW["useast2"]]


def test_region_pinned_name_answers_only_that_region(server: GlobalDns) -> None:
    server.reload(mesh_with(ALL_READY))
    assert answer(server, "foo-east.global") == [GW["useast2"]]


def test_region_pinned_name_is_local_first_when_the_local_cluster_is_in_it(
    server: GlobalDns,
) -> None:
    server.reload(mesh_with(ALL_READY))
    assert answer(server, "foo-west.global") == [LOCAL]
    server.reload(mesh_with({**ALL_READY, "uswest2": 0}))
    assert answer(server, "foo-west.global") == [GW["uswest1"]]


def test_region_pinned_name_fails_open_inside_its_region(server: GlobalDns) -> None:
    server.reload(mesh_with({**ALL_READY, "uswest2": 0, "uswest1": 0}))
    assert answer(server, "foo-west.global") == [LOCAL]


def test_pinned_names_go_after_the_first_label(server: GlobalDns) -> None:
    server.reload(mesh_with({"useast2": 1}, name="httpbin.bar"))
    assert answer(server, "httpbin-east.bar.global") == [GW["useast2"]]
    assert answer(server, "httpbin-useast2.bar.global") == [GW["useast2"]]


def test_names_compare_case_insensitively_and_echo_the_question(server: GlobalDns) -> None:
    server.reload(mesh_with(ALL_READY))
    reply = server.ask("FoO.GlObAl")
    assert reply.question[0].name.to_text() == "FoO.GlObAl."
    assert addresses(reply) == [LOCAL]


def test_service_entry_answers_its_addresses_as_given(server: GlobalDns) -> None:
    server.reload(mesh_with(ALL_READY))
    assert answer(server, "legacy.db.global") == ["240.0.0.2"]
    assert answer(server, "legacy.db.global", "AAAA") == ["fd00::2"]


def test_service_entry_host_beats_a_derived_name(server: GlobalDns) -> None:
    mesh = mesh_with(ALL_READY)
    mesh["serviceEntries"].append({"hosts": ["foo-east.global"], "addresses": ["240.0.0.9"]})
    server.reload(mesh)
    assert answer(server, "foo-east.global") == ["240.0.0.9"]


def test_real_name_beats_a_derived_pinned_name_that_spells_the_same(server: GlobalDns) -> None:
    mesh = mesh_with(ALL_READY)
    mesh["services"].append(
        {"name": "foo-east", "instances": {"uswest2": {"addresses": ["10.0.0.77"], "ready": 1}}}
    )
    server.reload(mesh)
    assert answer(server, "foo-east.global") == ["10.0.0.77"]


def test_conflicts_are_counted_not_fatal(server: GlobalDns) -> None:
    mesh = mesh_with(ALL_READY)
    mesh["services"].append(
        {"name": "foo-west", "instances": {"uswest2": {"addresses": ["10.0.0.78"], "ready": 1}}}
    )
    server.reload(mesh)
    assert server.metric("globaldns_name_conflicts_total") >= 1
    assert answer(server, "foo-west.global") == ["10.0.0.78"]


def test_srv_answers_the_named_port_with_the_target_addresses_as_additional(
    server: GlobalDns,
) -> None:
    server.reload(mesh_with(ALL_READY))
    reply = server.ask("_http._tcp.foo.global", "SRV")
    (srv,) = [rr for rrset in reply.answer for rr in rrset]
    assert (srv.port, srv.target.to_text()) == (80, "foo.global.")
    glue = [
        (rrset.name.to_text(), rr.to_text())
        for rrset in reply.additional
        for rr in rrset
        if rrset.rdtype == dns.rdatatype.A
    ]
    assert glue == [("foo.global.", LOCAL)]


def test_srv_follows_the_same_tier_as_the_name(server: GlobalDns) -> None:
    server.reload(mesh_with({"useast2": 1}))
    reply = server.ask("_http._tcp.foo.global", "SRV")
    glue = sorted(rr.to_text() for rrset in reply.additional for rr in rrset)
    assert glue == sorted([GW["useast2"], GW6_EAST])


def test_answers_carry_the_configured_ttl(server: GlobalDns) -> None:
    server.reload(mesh_with(ALL_READY))
    assert server.ask("foo.global").answer[0].ttl == 5


def test_negative_answers_carry_the_ttl_as_soa_minimum(server: GlobalDns) -> None:
    reply = server.ask("nothing-here.global")
    soa = reply.authority[0]
    assert (soa.ttl, soa[0].minimum) == (5, 5)


def test_max_answers_caps_records_of_one_type() -> None:
    srv = GlobalDns(
        mesh_with({"useast2": 1, "euwest1": 1, "uswest1": 1}), args=["--max-answers", "2"]
    ).start()
    try:
        assert len(addresses(srv.ask("foo.global"))) == 2
    finally:
        srv.stop()
