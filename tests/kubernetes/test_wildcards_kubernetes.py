"""Wildcard ServiceEntry hosts and hosts outside the zone, from ServiceEntries in a cluster
(the emulator, through the real client), answered by a running globaldns."""

from __future__ import annotations

import json
from typing import Any

from harness import addresses
from tests.kubernetes.conftest import Mesh, service_entry


def _served(mesh: Mesh, *entries: dict[str, Any]) -> str:
    local = mesh.cluster("a", "west", "192.0.2.1")
    mesh.serve([local], local)
    mesh.put(local, *entries)
    return local


def _wild() -> dict[str, Any]:
    wild = service_entry("wild", ["*.shard.global"], ["240.0.0.9"])
    wild["spec"]["ports"] = [{"number": 80, "name": "http", "protocol": "HTTP"}]
    return wild


def test_a_wildcard_entry_answers_names_at_depth_one_and_three(mesh: Mesh) -> None:
    _served(mesh, _wild())
    mesh.wait_answer("a.shard.global", ["240.0.0.9"])
    assert mesh.answer("x.y.z.shard.global") == ["240.0.0.9"]
    assert mesh.answer("shard.global") == []  # the parent: NOERROR, no answer


def test_an_exact_entry_beats_the_wildcard(mesh: Mesh) -> None:
    _served(mesh, _wild(), service_entry("exact", ["exact.shard.global"], ["240.0.0.10"]))
    mesh.wait_answer("exact.shard.global", ["240.0.0.10"])
    mesh.wait_answer("other.shard.global", ["240.0.0.9"])


def test_a_wildcard_srv_answers_its_port_for_the_name_below_it(mesh: Mesh) -> None:
    _served(mesh, _wild())
    mesh.wait_answer("a.shard.global", ["240.0.0.9"])
    assert mesh.server is not None
    reply = mesh.server.ask("_http._tcp.Web.shard.global", "SRV")
    assert addresses(reply) == ["0 100 80 web.shard.global."]
    assert [str(rrset.name) for rrset in reply.answer] == ["_http._tcp.Web.shard.global."]


def test_a_wildcard_answer_echoes_the_questions_case(mesh: Mesh) -> None:
    _served(mesh, _wild())
    mesh.wait_answer("a.shard.global", ["240.0.0.9"])
    assert mesh.server is not None
    reply = mesh.server.ask("MiXeD.ShArD.gLoBaL")
    assert [str(rrset.name) for rrset in reply.answer] == ["MiXeD.ShArD.gLoBaL."]


def test_table_name_says_which_entry_listed_a_host_outside_the_zone(mesh: Mesh) -> None:
    both = service_entry("legacy", ["legacy.example.com", "legacy.global"], ["240.0.0.13"])
    local = _served(mesh, both)
    mesh.wait_answer("legacy.global", ["240.0.0.13"])
    assert mesh.server is not None
    status, body = mesh.server.http("/table?name=legacy.example.com")
    assert status == 200, body
    (view,) = json.loads(body)["names"]
    assert view["name"] == "legacy.example.com."
    assert view["reason"] == (
        f"not served: ServiceEntry default/legacy from {local} lists it, outside the zone "
        "global (only hosts ending in .global are answered here, as by istiocoredns)"
    )
    skipped = json.loads(mesh.server.http("/table")[1])["skipped"]
    assert [s["reason"] for s in skipped if s["name"] == "legacy.example.com."] == ["outside_zone"]
