"""Mesh files the fuzzer (fuzz/fuzz_mesh.py) found: each is refused with a `MeshError` naming
the field, or served, and never breaks the parser or the table."""

from __future__ import annotations

import pytest

from globaldns.dns.zone import ZoneConfig
from globaldns.sources import mesh
from globaldns.table.table import Table

LABEL = "a" * 63


def refusal(text: str) -> str:
    with pytest.raises(mesh.MeshError) as refused:
        mesh.loads(text.encode(), "mesh.yaml")
    return str(refused.value)


def test_a_key_that_yaml_reads_as_a_number_is_refused_as_not_text() -> None:
    # found as b"?\natn: 1r": a null key beside a text one made sorting the keys raise TypeError
    assert "key 1 must be text" in refusal("1: a\nzone: global\n")
    assert "key None must be text" in refusal("?\natn: 1r\n")


def test_a_service_name_longer_than_dns_allows_is_refused() -> None:
    text = f"services: [{{name: {LABEL}.{LABEL}.{LABEL}.{LABEL}}}]\n"
    assert "services[0].name" in refusal(text) and "longer than a DNS name" in refusal(text)


def test_a_port_name_whose_srv_owner_is_too_long_is_refused() -> None:
    text = f"services: [{{name: foo, ports: [{{name: {LABEL}, port: 80}}]}}]\n"
    assert "services[0].ports" in refusal(text) and "longer than DNS allows" in refusal(text)


def test_a_zone_longer_than_dns_allows_is_refused() -> None:
    assert "zone: must be a DNS name" in refusal(f"zone: {LABEL}.{LABEL}.{LABEL}.{LABEL}\n")


def test_a_pinned_name_too_long_for_dns_is_not_made_and_the_name_still_answers() -> None:
    text = (
        f"clusters: [{{name: {LABEL}}}]\n"
        f"services: [{{name: {LABEL}, instances: {{{LABEL}: {{addresses: [10.0.0.1]}}}}}}]\n"
    )
    parsed = mesh.loads(text.encode(), "mesh.yaml")
    table = Table(ZoneConfig(), local_cluster=LABEL)
    mesh.apply(parsed, None, table)
    assert table.internal_errors == 0
    assert table.zone.names.get(table.zone.compiler.owner(LABEL)) is not None
