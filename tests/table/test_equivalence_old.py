"""Temporary: the old table (tests/table/old_table) and the new give the same for random meshes."""

from __future__ import annotations

import logging
import sys
from typing import Any

from hypothesis import HealthCheck, given, settings

from globaldns.table.table import Table
from tests.table import equivalence
from tests.table.old_table import render as old_render
from tests.table.old_table.table import Table as OldTable


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(equivalence.meshes)
def test_old_and_new_tables_show_the_same(mesh: dict[str, Any]) -> None:
    logging.disable(logging.CRITICAL)
    old = equivalence.replay(OldTable, mesh, old_render)
    new = equivalence.replay(Table, mesh)
    logging.disable(logging.NOTSET)
    for key in old:
        assert (key, new[key]) == (key, old[key])


def record(count: int) -> None:
    recorded: list[dict[str, Any]] = []

    @settings(
        max_examples=count, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(equivalence.meshes)
    def keep(mesh: dict[str, Any]) -> None:
        recorded.append({**mesh, "shown": equivalence.replay(OldTable, mesh, old_render)})

    logging.disable(logging.CRITICAL)
    keep()
    equivalence.save(recorded)


if __name__ == "__main__":
    record(int(sys.argv[1]))
