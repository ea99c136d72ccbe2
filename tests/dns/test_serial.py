"""SPEC §3: the SOA serial increases whenever the zone's content changes (RFC 1982) and is the
same on replicas holding the same content (it is the mesh file's change time)."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from globaldns.dns.compile import serial_after
from harness import GlobalDns, wait_for
from harness.meshes import MESH
from tests.support import exported_zone


def serial(server: GlobalDns, name: str = "global") -> int:
    """The serial of the SOA in the answer (apex) or in the authority section (elsewhere)."""
    reply = server.ask(name, "SOA")
    rrset = reply.answer[0] if reply.answer else reply.authority[0]
    return int(rrset[0].serial)


@pytest.fixture
def replicas() -> Iterator[tuple[GlobalDns, GlobalDns]]:
    """Two servers reading one mesh file, as two pods mounting one volume."""
    first = GlobalDns(MESH).start()
    second = GlobalDns(args=["--mesh", str(first.mesh_path)]).start()
    yield first, second
    second.stop()
    first.stop()


def changed(mesh: dict) -> dict:  # type: ignore[type-arg]
    edited = copy.deepcopy(mesh)
    edited["services"][0]["instances"]["a"]["addresses"] = ["10.0.0.9"]
    return edited


def test_replicas_on_one_mesh_give_the_same_serial(
    replicas: tuple[GlobalDns, GlobalDns],
) -> None:
    first, second = replicas
    assert serial(first) == serial(second)
    assert serial(first) == int(first.mesh_path.stat().st_mtime)


def test_the_serial_rises_on_every_replica_after_a_change(
    replicas: tuple[GlobalDns, GlobalDns],
) -> None:
    first, second = replicas
    before = serial(first)
    reloads = second.metric("globaldns_table_reloads_total")
    first.reload(changed(MESH))
    wait_for(lambda: second.metric("globaldns_table_reloads_total") > reloads, 5, what="reload")
    after = serial(first)
    assert 0 < (after - before) % 2**32 < 2**31  # RFC 1982: after follows before
    assert serial(second) == after
    assert serial(first, "nope.global") == after  # the SOA of negative answers moved too


def test_the_zone_export_writes_the_serial_the_server_answers(
    replicas: tuple[GlobalDns, GlobalDns],
) -> None:
    first, _ = replicas
    zone = exported_zone(first.mesh_path)
    soa = next(line for line in zone.splitlines() if " SOA " in line)
    assert int(soa.split()[5]) == serial(first)


def test_a_change_within_the_same_second_still_raises_the_serial() -> None:
    assert serial_after(1_800_000_000, 1_800_000_000.7) == 1_800_000_001


def test_the_serial_wraps_as_rfc_1982_counts() -> None:
    assert serial_after(2**32 - 1, 5.0) == 5  # 5 follows 2^32 - 1
    assert serial_after(2**32 - 1, 2**31 + 5.0) == 0  # too far ahead: plus one, wrapped
