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
