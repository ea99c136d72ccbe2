"""Per-cluster sync state that sources report and `/ready`, `/table` and metrics read."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

# Seconds since a source last proved a cluster's data current (None: it never has).
DataAge = Callable[[], float | None]


class State(StrEnum):
    SYNCING = "syncing"  # first list not finished yet
    SYNCED = "synced"
    STALE = "stale"  # unreachable; last-known entries still serve
    GONE = "gone"  # unreachable past the serve-stale bound; entries dropped
    GAVE_UP = "gave-up"  # could not finish a first sync within --sync-timeout; still trying
    MISSING = "missing"  # gave up on more than --serve-stale ago; no longer holds names at SERVFAIL
    REFUSED = "refused"  # its remote Secret was refused: never watched, never waited for


# The states of a cluster that may yet bring names it has never listed: while one is in them, a
# name no synced cluster holds answers SERVFAIL (it may exist), not NXDOMAIN (cached as absent).
HOLDING = frozenset({State.SYNCING, State.GAVE_UP})


@dataclass
class ClusterStatus:
    name: str
    source: str
    state: State = State.SYNCING
    since: float = field(default_factory=time.time)
    error: str = ""
    synced_once: bool = False
    errors: int = 0  # watch failures so far (a counter: it only grows)
    # A new connection (a changed remote Secret) being made beside the serving one: its state
    # and error, until it has synced and replaced the old one.
    next_state: State | None = None
    next_error: str = ""
    data_age: DataAge | None = None  # how old its data is, where the source can tell

    def age(self) -> float | None:
        return None if self.data_age is None else self.data_age()


class Registry:
    """Which clusters are known and how they are doing.

    Refused clusters (a remote Secret the allowlist refused) are kept apart in `refused`: they
    are shown and counted, but readiness and SERVFAIL read `clusters` only, so a refused Secret
    never holds either.
    """

    def __init__(self) -> None:
        self.clusters: dict[str, ClusterStatus] = {}
        self.refused: dict[str, ClusterStatus] = {}
        self.refusals: dict[str, int] = {}  # refused remote Secrets so far, by reason

    def refuse(self, name: str, source: str, error: str, reason: str) -> None:
        """The cluster's Secret was refused. Data it served before, if any, stays in `clusters`
        under the stale rules; the refusal is shown beside it."""
        self.refused[name] = ClusterStatus(name, source, State.REFUSED, error=error)
        self.refusals[reason] = self.refusals.get(reason, 0) + 1

    def unrefuse(self, name: str) -> None:
        self.refused.pop(name, None)

    def shown(self) -> list[ClusterStatus]:
        """Every cluster once, by name: a refused Secret's cluster as its data's state while
        that data still serves, else as refused."""
        refused = [s for n, s in self.refused.items() if n not in self.clusters]
        return sorted([*self.clusters.values(), *refused], key=lambda s: s.name)

    def set(
        self,
        name: str,
        source: str,
        state: State,
        error: str = "",
        errors: int = 0,
        data_age: DataAge | None = None,
    ) -> None:
        status = self.clusters.get(name)
        if status is None:
            status = self.clusters[name] = ClusterStatus(name, source)
        status.data_age = data_age
        if status.state != state:
            status.state = state
            status.since = time.time()
        status.error = error
        status.errors = errors
        if state == State.SYNCED:
            status.synced_once = True

    def set_next(self, name: str, state: State | None, error: str = "") -> None:
        status = self.clusters.get(name)
        if status is not None:
            status.next_state, status.next_error = state, error

    def forget(self, name: str) -> None:
        self.clusters.pop(name, None)

    def any_synced(self, names: frozenset[str] | None) -> bool:
        """One of `names` (any cluster, when None) has synced at least once."""
        return any(
            s.synced_once for s in self.clusters.values() if names is None or s.name in names
        )

    def syncing(self) -> list[str]:
        """The clusters still trying their first sync (not given up on)."""
        return sorted(s.name for s in self.clusters.values() if s.state == State.SYNCING)

    def complete(self) -> bool:
        """No cluster holds names at SERVFAIL: a name nobody holds does not exist."""
        return not any(s.state in HOLDING for s in self.clusters.values())

    def as_json(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for s in self.shown():
            age = s.age()
            refusal = self.refused.get(s.name)
            rows.append(
                {
                    "name": s.name,
                    "source": s.source,
                    "state": s.state.value,
                    "since": s.since,
                    "error": s.error,
                    "syncedOnce": s.synced_once,
                    "errors": s.errors,
                    "dataAgeSeconds": None if age is None else round(age, 1),
                    "newConnection": None
                    if s.next_state is None
                    else {"state": s.next_state.value, "error": s.next_error},
                    "secretRefused": None if refusal is None else refusal.error,
                }
            )
        return rows
