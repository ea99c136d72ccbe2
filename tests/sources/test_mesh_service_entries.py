"""The mesh file's serviceEntries read as a ServiceEntry in a cluster is: which are named, with
which addresses, and which values are refused."""

from __future__ import annotations

from typing import Any

import pytest

from globaldns.dns.wire import Unfit
from globaldns.sources.mesh import MeshError, parse
from globaldns.table.model import Entry


def entries(**entry: Any) -> dict[str, Entry]:
    return parse({"serviceEntries": [{"hosts": ["e.global"], **entry}]}, "mesh.yaml").entries


@pytest.mark.parametrize(
    ("entry", "kept", "skipped"),
    [
        ({"addresses": ["240.0.0.1"]}, ("240.0.0.1",), None),
        ({"addresses": ["240.0.0.1"], "resolution": "STATIC"}, ("240.0.0.1",), None),
        ({"addresses": ["240.0.0.1"], "resolution": "dns"}, ("240.0.0.1",), None),
        ({"addresses": ["240.0.0.1"], "resolution": "NONE"}, ("240.0.0.1",), Unfit.RESOLUTION_NONE),
        ({"addresses": ["240.0.0.1/32", "fd00::1/128"]}, ("240.0.0.1", "fd00::1"), None),
        ({"addresses": ["240.0.0.0/24", "240.0.0.9"]}, ("240.0.0.9",), None),
        ({"addresses": ["240.0.0.0/24"]}, (), Unfit.WIDE_CIDR),
        ({}, (), None),
        ({"addresses": []}, (), None),
        ({"resolution": "NONE"}, (), Unfit.RESOLUTION_NONE),
    ],
)
def test_which_service_entries_are_skipped_and_what_addresses_they_keep(
    entry: dict, kept: tuple[str, ...], skipped: Unfit | None
) -> None:
    got = entries(**entry)["e"]
    assert (got.addresses, got.skipped, got.name) == (kept, skipped, "serviceEntries[0]")


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"addresses": ["240.0.0.1"], "resolution": "SOMETIMES"}, "resolution"),
        ({"addresses": ["240.0.0.1"], "resolution": ["NONE"]}, "resolution"),
        ({"addresses": ["not-an-ip/8"]}, "addresses[0]"),
        ({"addresses": ["240.0.0.1/33"]}, "addresses[0]"),
    ],
)
def test_a_bad_service_entry_value_is_refused_by_its_field(entry: dict, field: str) -> None:
    with pytest.raises(MeshError) as refused:
        entries(**entry)
    assert f"serviceEntries[0].{field}:" in str(refused.value)


def hosts(*names: str) -> dict[str, Entry]:
    return parse({"serviceEntries": [{"hosts": list(names)}]}, "mesh.yaml").entries


@pytest.mark.parametrize(
    ("host", "kept"),
    [("*.shard.global", "*.shard"), ("*.A.b.GLOBAL.", "*.a.b")],
)
def test_a_wildcard_host_is_read_below_the_zone(host: str, kept: str) -> None:
    assert list(hosts(host)) == [kept]


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("*.global", "would answer every name of the zone"),
        ("a.*.shard.global", "not a DNS label"),
        ("*x.shard.global", "not a DNS label"),
        ("**.shard.global", "not a DNS label"),
    ],
)
def test_a_wildcard_anywhere_but_the_first_label_of_a_name_below_the_zone_is_refused(
    host: str, says: str
) -> None:
    with pytest.raises(MeshError) as refused:
        hosts(host)
    assert "serviceEntries[0].hosts[0]:" in str(refused.value)
    assert says in str(refused.value)


def test_a_service_name_is_never_a_wildcard() -> None:
    with pytest.raises(MeshError, match=r"services\[0\].name: .*not a DNS label"):
        parse({"services": [{"name": "*.shard"}]}, "mesh.yaml")
