"""The table gives out what it gave before it was split (issue 18), for a few hundred meshes.

`fixtures/meshes.json.gz` holds random meshes (`equivalence.meshes`) and what the table showed
for them then: the zone file, every name's wire replies, the views explained, the gateways and
the counters. Replayed into today's table, each must show the very same bytes. And for new
random meshes, commits in budgeted turns show what whole commits show.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given, settings

from globaldns.table.table import Table
from tests.table import equivalence


def test_the_table_shows_byte_for_byte_what_it_showed_for_recorded_meshes() -> None:
    recorded = equivalence.load()
    assert len(recorded) >= 300
    logging.disable(logging.CRITICAL)  # thousands of conflicts and unserved names, on purpose
    try:
        for number, mesh in enumerate(recorded):
            shown = equivalence.replay(Table, mesh)
            if shown != mesh["shown"]:
                differs = _first(shown, mesh["shown"])
                pytest.fail(f"mesh {number} ({mesh['steps']}) shows otherwise: {differs}")
    finally:
        logging.disable(logging.NOTSET)


def _first(shown: dict[str, object], expected: dict[str, object]) -> str:
    """The first part that differs, for the failure message."""
    for key in expected:
        if shown.get(key) != expected[key]:
            return f"{key}: {shown.get(key)!r} != {expected[key]!r}"
    return "?"


@settings(max_examples=40, deadline=None)
@given(equivalence.meshes)
def test_commits_in_budgeted_turns_show_what_whole_commits_show(mesh: dict[str, Any]) -> None:
    def commits(budgeted: bool) -> dict[str, Any]:
        steps = [["commit", budgeted] if s[0] == "commit" else s for s in mesh["steps"]]
        return {"local": mesh["local"], "steps": steps}

    logging.disable(logging.CRITICAL)
    try:
        whole = equivalence.replay(Table, commits(False))
        in_turns = equivalence.replay(Table, commits(True))
    finally:
        logging.disable(logging.NOTSET)
    assert in_turns == whole
