"""Fuzz the mesh-file parser: any bytes give a table or a `MeshError`, nothing else.

A file that parses is applied to a fresh table, which must compile every name of it (names and
SRV owners that fit the wire format): a name the file validates but the table cannot compile
is an internal error (logged, counted, and no answer for it).
"""

from __future__ import annotations

import logging
import sys

import atheris

with atheris.instrument_imports(include=["globaldns"]):
    from globaldns.dns.zone import ZoneConfig
    from globaldns.sources import mesh
    from globaldns.table.table import Table

DEFAULTS = ZoneConfig()
logging.disable(logging.WARNING)  # an empty file is logged; here that is noise


def TestOneInput(data: bytes) -> None:
    try:
        parsed = mesh.loads(data, "fuzz.yaml")
    except mesh.MeshError:
        return
    config = ZoneConfig(
        zone=parsed.zone or DEFAULTS.zone, ttl=DEFAULTS.ttl if parsed.ttl is None else parsed.ttl
    )
    table = Table(config, local_cluster=parsed.local_cluster)
    mesh.apply(parsed, None, table)
    assert table.internal_errors == 0, "the table could not compile a name the file validated"


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
