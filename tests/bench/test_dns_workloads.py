"""bench/dns_workloads.py: the realistic mesh and question mixes the bench's figures rest on."""

from __future__ import annotations

from collections import Counter

import pytest
from dns_workloads import QUERY_LINES, Workload, query_lines, realistic_mesh

MESH = realistic_mesh()
SIZES = {
    f"{service['name']}.global": len(service["instances"]["uswest2"]["addresses"])
    for service in MESH.document["services"]
}


def test_the_mesh_has_179_names() -> None:
    assert len(SIZES) == 179


def test_distinct_a_questions_of_the_mix_answer_one_two_to_five_and_forty_addresses() -> None:
    asked = {line.split()[0] for line in query_lines(MESH, Workload.MIX) if line.endswith(" A")}
    sizes = Counter(
        "one" if SIZES[name] == 1 else "2-5" if SIZES[name] <= 5 else str(SIZES[name])
        for name in asked
        if name in SIZES
    )
    assert sizes == {"one": 89, "2-5": 37, "40": 2}


def test_rotated_names_have_each_size_from_two_to_five() -> None:
    sizes = {SIZES[line.split()[0]] for line in MESH.questions[Workload.ROTATED]}
    assert sizes == {2, 3, 4, 5}


def test_the_mix_is_90_percent_a_hits_5_nodata_5_nxdomain() -> None:
    lines = query_lines(MESH, Workload.MIX)
    kinds = Counter(
        "nxdomain" if line.split()[0] not in SIZES else line.split()[1] for line in lines
    )
    assert kinds == {
        "A": QUERY_LINES * 90 // 100,
        "AAAA": QUERY_LINES // 20,
        "nxdomain": QUERY_LINES // 20,
    }


@pytest.mark.parametrize("workload", [w for w in Workload if w.random_case])
def test_a_0x20_workload_asks_the_same_questions_in_random_case(workload: Workload) -> None:
    as_sent, mixed_case = query_lines(MESH, workload.kind), query_lines(MESH, workload)
    assert [line.lower() for line in mixed_case] == [line.lower() for line in as_sent]
    names = [line.split()[0] for line in mixed_case]
    assert sum(name != name.lower() for name in names) > QUERY_LINES * 0.99


def test_every_workload_is_asked_as_sent_and_in_random_case() -> None:
    assert {w.kind for w in Workload if w.random_case} == {w for w in Workload if not w.random_case}


def test_every_a_name_of_the_mix_is_asked_equally_often() -> None:
    lines = query_lines(MESH, Workload.MIX)
    counts = Counter(line for line in lines if line.endswith(" A") and line.split()[0] in SIZES)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_a_single_kind_workload_asks_only_that_kind() -> None:
    assert set(query_lines(MESH, Workload.SRV)) == set(MESH.questions[Workload.SRV])
