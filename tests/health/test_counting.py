"""SPEC §2 "Gateway health": down after 3 failures in a row, up after 2 successes, up until its
first result; the error says what failed and how often."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from globaldns.health.counting import DOWN_AFTER, UP_AFTER, Count, Outcome, step

C, R, T, U = Outcome.CONNECTED, Outcome.REFUSED, Outcome.TIMED_OUT, Outcome.UNREACHABLE


def run(outcomes: list[Outcome]) -> tuple[Count, list[bool]]:
    """The final count and, per result, whether it was up after it."""
    count, ups = Count(), []
    for now, outcome in enumerate(outcomes, start=1):
        count, _ = step(count, outcome, float(now))
        ups.append(count.up)
    return count, ups


@pytest.mark.parametrize(
    ("outcomes", "ups"),
    [
        ([], []),
        ([R], [True]),
        ([R, R], [True, True]),
        ([R, R, R], [True, True, False]),
        ([T, T, T], [True, True, False]),
        ([R, T, U], [True, True, False]),
        ([R, R, C, R, R], [True] * 5),
        ([R, R, R, C], [True, True, False, False]),
        ([R, R, R, C, C], [True, True, False, False, True]),
        ([R, R, R, C, R, C, C], [True, True, False, False, False, False, True]),
        ([C, C, C], [True, True, True]),
    ],
)
def test_up_and_down_follow_runs_of_results(outcomes: list[Outcome], ups: list[bool]) -> None:
    assert run(outcomes)[1] == ups


def test_an_address_counts_as_up_until_its_first_result() -> None:
    assert Count().up


@pytest.mark.parametrize(
    ("outcomes", "error"),
    [
        ([R, R, R], "refused 3 times"),
        ([T, T, T], "timed out 3 times"),
        ([R, R, R, R, R], "refused 5 times"),
        ([R, R, T], "3 failures in a row, the last timed out"),
        ([T], "timed out 1 time"),
    ],
)
def test_the_error_says_what_failed_and_how_often(outcomes: list[Outcome], error: str) -> None:
    assert run(outcomes)[0].error == error


def test_an_address_back_up_keeps_its_last_error_for_the_operator() -> None:
    count, _ = run([R, R, R, C, C])
    assert (count.up, count.error) == (True, "refused 3 times")


def test_since_is_the_time_of_the_last_change_between_up_and_down() -> None:
    count, _ = run([R, R, R, R, C, C, C])
    assert count.since == 6.0


def test_only_a_change_between_up_and_down_is_reported() -> None:
    count, changes = Count(), []
    for outcome in [R, R, R, R, C, C, C, R]:
        count, changed = step(count, outcome, 1.0)
        changes.append(changed)
    assert changes == [False, False, True, False, False, True, False, False]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(Outcome)), max_size=40))
def test_state_is_decided_by_the_latest_run_of_equal_results(outcomes: list[Outcome]) -> None:
    """Down exactly when the last DOWN_AFTER results failed, or it was down and fewer than
    UP_AFTER successes followed; never flapping on one result."""
    _, ups = run(outcomes)
    up = True
    for index in range(len(outcomes)):
        tail = outcomes[: index + 1]
        if up and len(tail) >= DOWN_AFTER and C not in tail[-DOWN_AFTER:]:
            up = False
        elif not up and len(tail) >= UP_AFTER and all(o is C for o in tail[-UP_AFTER:]):
            up = True
        assert ups[index] == up
