"""A cluster's life as the API shows it, as one table: (state, event) -> (state, effects).

The watches' reports are reduced to one event each (every resource current and reachable;
something unreachable; or still listing), the two timers add theirs, and the table below says
what follows. Data-plane health (gateway probes, the gateway Service's endpoints) is the other
input of what a cluster answers; it does not move the cluster between these states: it goes to
the table directly, so a stale cluster with a dead gateway drops out while its data is kept.
"""

from __future__ import annotations

from enum import Enum, Flag, auto

from globaldns.sources.status import State


class Event(Enum):
    IN_SYNC = auto()  # every resource listed and current, none unreachable
    LISTING = auto()  # reachable, some resource not listed yet
    UNREACHABLE = auto()  # some resource cannot reach the API (connection, 5xx)
    SYNC_TIMEOUT = auto()  # --sync-timeout passed since the cluster was added
    STALE_TIMEOUT = auto()  # --serve-stale passed since it became unreachable or was given up on


class Effect(Flag):
    NONE = 0
    PUBLISH = auto()  # hand everything the records say to the table
    WITHDRAW = auto()  # the table forgets the cluster (records kept to compare against)
    START_STALE_TIMER = auto()
    STOP_STALE_TIMER = auto()


S, E, F = State, Event, Effect
# Every move the lifecycle makes. Any (state, event) not listed keeps its state and does
# nothing: a watch still listing, an unreachable API while syncing, gave-up, missing or gone, a
# timer that fires after the state it was started for. The stale timer bounds two things alike:
# how long a stale cluster's data serves, and how long one never synced holds names at SERVFAIL.
TRANSITIONS: dict[tuple[State, Event], tuple[State, Effect]] = {
    (S.SYNCING, E.IN_SYNC): (S.SYNCED, F.PUBLISH),
    (S.SYNCING, E.SYNC_TIMEOUT): (S.GAVE_UP, F.START_STALE_TIMER),
    (S.GAVE_UP, E.IN_SYNC): (S.SYNCED, F.PUBLISH),
    (S.GAVE_UP, E.STALE_TIMEOUT): (S.MISSING, F.NONE),
    (S.MISSING, E.IN_SYNC): (S.SYNCED, F.PUBLISH),
    (S.SYNCED, E.UNREACHABLE): (S.STALE, F.START_STALE_TIMER),
    (S.STALE, E.IN_SYNC): (S.SYNCED, F.STOP_STALE_TIMER),
    (S.STALE, E.STALE_TIMEOUT): (S.GONE, F.WITHDRAW),
    (S.GONE, E.IN_SYNC): (S.SYNCED, F.PUBLISH),
}


# Where the local cluster differs: its stale window never ends, since kube-proxy keeps routing
# to its ClusterIPs while its API is down (as CoreDNS's kubernetes plugin and istiod keep
# serving their caches); its last-known entries keep answering, marked stale.
LOCAL_TRANSITIONS: dict[tuple[State, Event], tuple[State, Effect]] = {
    (S.SYNCED, E.UNREACHABLE): (S.STALE, F.NONE),
}


def next_state(state: State, event: Event, local: bool = False) -> tuple[State, Effect]:
    if local and (state, event) in LOCAL_TRANSITIONS:
        return LOCAL_TRANSITIONS[(state, event)]
    return TRANSITIONS.get((state, event), (state, F.NONE))


def event_of(all_listed: bool, unreachable: bool) -> Event:
    """The watches' reports, reduced to the event they stand for."""
    if unreachable:
        return Event.UNREACHABLE
    return Event.IN_SYNC if all_listed else Event.LISTING
