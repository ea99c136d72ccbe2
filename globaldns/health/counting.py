"""Up/down of one gateway address from its probe results: a pure state machine.

An address counts as up until its first result; it goes down after `DOWN_AFTER` failures in a
row and comes back up after `UP_AFTER` successes in a row. Only a change between up and down is
worth telling the table: a failure more or less on a down address changes no answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

DOWN_AFTER = 3
UP_AFTER = 2


class Outcome(StrEnum):
    """What one TCP connect did; the failures are worded for `GatewayHealth.error`."""

    CONNECTED = "connected"
    REFUSED = "refused"
    TIMED_OUT = "timed out"
    UNREACHABLE = "unreachable"  # any other connect error (no route, network down, ...)


@dataclass(frozen=True, slots=True)
class Count:
    """Where one address stands; `since` is the wall-clock time of its last up/down change."""

    up: bool = True
    since: float = 0.0
    successes: int = 0  # in a row, while down
    failures: int = 0  # in a row
    failure: Outcome | None = None  # the kind of the current run of failures
    mixed: bool = False  # the current run of failures was of more than one kind
    error: str = ""  # the last run of failures, worded: "refused 3 times"


def step(count: Count, outcome: Outcome, now: float) -> tuple[Count, bool]:
    """The count after one more result, and whether the address changed between up and down."""
    if outcome is Outcome.CONNECTED:
        if count.up and not count.failures:
            return count, False  # the usual case, kept allocation-free
        successes = count.successes + 1
        if not count.up and successes >= UP_AFTER:
            return Count(True, now, successes, 0, None, False, count.error), True
        return replace(count, successes=successes, failures=0, failure=None, mixed=False), False
    failures = count.failures + 1
    mixed = count.mixed or (count.failure is not None and count.failure is not outcome)
    error = worded(outcome, failures, mixed)
    if count.up and failures >= DOWN_AFTER:
        return Count(False, now, 0, failures, outcome, mixed, error), True
    return replace(
        count, successes=0, failures=failures, failure=outcome, mixed=mixed, error=error
    ), False


def worded(outcome: Outcome, failures: int, mixed: bool) -> str:
    """ "refused 3 times"; "4 failures in a row, the last timed out" when kinds differ."""
    if mixed:
        return f"{failures} failures in a row, the last {outcome.value}"
    return f"{outcome.value} {failures} time{'s' if failures != 1 else ''}"
