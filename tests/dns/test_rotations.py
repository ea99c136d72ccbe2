"""Round-robin orders made from packed runs of records are the orders of the records one by
one: each group rotates within itself, groups keep their order, `limit` keeps the head."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from globaldns.dns.answer import Run
from globaldns.dns.records import MAX_ROTATIONS, turning


def orders_one_by_one(groups: list[list[bytes]], limit: int | None) -> list[list[bytes]]:
    """The reference: every order built record by record."""
    count = min(max(len(group) for group in groups), MAX_ROTATIONS) or 1
    orders = []
    for step in range(count):
        order: list[bytes] = []
        for group in groups:
            shift = (step * len(group) // count) % len(group)
            order.extend(group[shift:] + group[:shift])
        orders.append(order[:limit] if limit else order)
    return orders


@st.composite
def record_groups(draw: st.DrawFn) -> list[list[bytes]]:
    """One to three groups of distinct records of one size (A records: 16 bytes)."""
    sizes = draw(st.lists(st.integers(1, 40), min_size=1, max_size=3))
    numbers = iter(range(sum(sizes)))
    return [[next(numbers).to_bytes(16, "big") for _ in range(size)] for size in sizes]


@given(record_groups(), st.none() | st.integers(1, 50))
def test_every_order_of_the_runs_is_the_order_of_the_records(
    groups: list[list[bytes]], limit: int | None
) -> None:
    expected = [b"".join(order) for order in orders_one_by_one(groups, limit)]
    first, turns = turning([Run.of(group) for group in groups], limit)
    assert first == Run(expected[0], len(expected[0]) // 16)
    orders = [first.records] if turns is None else [turns.order(s) for s in range(turns.steps)]
    assert orders == expected


def test_groups_of_one_record_each_have_one_order_and_no_turns() -> None:
    """Such an answer is remembered whole, and the compiled loop splices it as it is."""
    runs = [Run.of([n.to_bytes(16, "big")]) for n in range(3)]
    assert turning(runs)[1] is None
