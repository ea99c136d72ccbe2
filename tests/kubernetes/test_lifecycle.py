"""The cluster lifecycle (SPEC §4): every (state, event) and what it does, in process."""

from __future__ import annotations

import pytest

from globaldns.sources.kubernetes.lifecycle import (
    TRANSITIONS,
    Effect,
    Event,
    event_of,
    next_state,
)
from globaldns.sources.status import State

S, E, F = State, Event, Effect
# A refused cluster (its remote Secret failed the allowlist) has no watch, so no lifecycle.
WATCHED = [state for state in State if state is not S.REFUSED]


@pytest.mark.parametrize(
    ("state", "event", "after", "effects"),
    [
        (S.SYNCING, E.IN_SYNC, S.SYNCED, F.PUBLISH),
        (S.SYNCING, E.UNREACHABLE, S.SYNCING, F.NONE),
        (S.SYNCING, E.SYNC_TIMEOUT, S.GAVE_UP, F.START_STALE_TIMER),
        (S.GAVE_UP, E.IN_SYNC, S.SYNCED, F.PUBLISH),
        (S.GAVE_UP, E.UNREACHABLE, S.GAVE_UP, F.NONE),
        (S.GAVE_UP, E.STALE_TIMEOUT, S.MISSING, F.NONE),
        (S.MISSING, E.UNREACHABLE, S.MISSING, F.NONE),
        (S.MISSING, E.IN_SYNC, S.SYNCED, F.PUBLISH),
        (S.SYNCED, E.UNREACHABLE, S.STALE, F.START_STALE_TIMER),
        (S.SYNCED, E.SYNC_TIMEOUT, S.SYNCED, F.NONE),
        (S.SYNCED, E.LISTING, S.SYNCED, F.NONE),
        (S.STALE, E.IN_SYNC, S.SYNCED, F.STOP_STALE_TIMER),
        (S.STALE, E.UNREACHABLE, S.STALE, F.NONE),
        (S.STALE, E.STALE_TIMEOUT, S.GONE, F.WITHDRAW),
        (S.SYNCED, E.STALE_TIMEOUT, S.SYNCED, F.NONE),  # a timer that lost the race
        (S.GONE, E.UNREACHABLE, S.GONE, F.NONE),
        (S.GONE, E.IN_SYNC, S.SYNCED, F.PUBLISH),
    ],
)
def test_each_event_moves_the_cluster_and_says_what_to_do(
    state: State, event: Event, after: State, effects: Effect
) -> None:
    assert next_state(state, event) == (after, effects)


@pytest.mark.parametrize("state", WATCHED)
def test_in_sync_always_ends_synced_and_published_when_it_was_not(state: State) -> None:
    after, effects = next_state(state, Event.IN_SYNC)
    assert after == State.SYNCED
    assert bool(effects & Effect.PUBLISH) == (state in (S.SYNCING, S.GAVE_UP, S.MISSING, S.GONE))


def test_the_local_cluster_goes_stale_without_a_timer_so_it_is_never_withdrawn() -> None:
    assert next_state(S.SYNCED, E.UNREACHABLE, local=True) == (S.STALE, F.NONE)


@pytest.mark.parametrize("key", [k for k in TRANSITIONS if k != (S.SYNCED, E.UNREACHABLE)])
def test_the_local_cluster_moves_as_any_other_otherwise(key: tuple[State, Event]) -> None:
    assert next_state(*key, local=True) == TRANSITIONS[key]


def test_only_a_stale_cluster_is_ever_withdrawn() -> None:
    withdrawing = [key for key, (_, effects) in TRANSITIONS.items() if effects & Effect.WITHDRAW]
    assert withdrawing == [(S.STALE, E.STALE_TIMEOUT)]


@pytest.mark.parametrize("state", WATCHED)
def test_a_watch_still_listing_changes_nothing(state: State) -> None:
    assert next_state(state, Event.LISTING) == (state, Effect.NONE)


@pytest.mark.parametrize(
    ("all_listed", "unreachable", "event"),
    [
        (True, False, E.IN_SYNC),
        (False, False, E.LISTING),
        (True, True, E.UNREACHABLE),
        (False, True, E.UNREACHABLE),
    ],
)
def test_the_watches_reports_reduce_to_one_event(
    all_listed: bool, unreachable: bool, event: Event
) -> None:
    assert event_of(all_listed, unreachable) == event
