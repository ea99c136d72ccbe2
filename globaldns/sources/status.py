"""Per-cluster sync state that sources report and `/ready`, `/table` and metrics read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    SYNCING = "syncing"  # first list not finished yet
    SYNCED = "synced"
    STALE = "stale"  # unreachable; last-known entries still serve
    GONE = "gone"  # unreachable past the serve-stale bound; entries dropped
    GAVE_UP = "gave-up"  # could not finish a first sync in time; no longer blocks readiness
    REFUSED = "refused"  # its remote Secret was refused: never watched, never waited for


@dataclass
class ClusterStatus:
    name: str
    source: str
    state: State = State.SYNCING
    since: float = field(default_factory=time.time)
    error: str = ""
    synced_once: bool = False
    errors: int = 0  # watch failures so far (a counter: it only grows)


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
        """The cluster's Secret was refused: it is no longer (or never was) a known cluster."""
        self.clusters.pop(name, None)
        self.refused[name] = ClusterStatus(name, source, State.REFUSED, error=error)
        self.refusals[reason] = self.refusals.get(reason, 0) + 1

    def set(self, name: str, source: str, state: State, error: str = "", errors: int = 0) -> None:
        self.refused.pop(name, None)
        status = self.clusters.get(name)
        if status is None:
            status = self.clusters[name] = ClusterStatus(name, source)
        if status.state != state:
            status.state = state
            status.since = time.time()
        status.error = error
        status.errors = errors
        if state == State.SYNCED:
            status.synced_once = True

    def forget(self, name: str) -> None:
        self.clusters.pop(name, None)
        self.refused.pop(name, None)

    def ready(self) -> bool:
        """Every known cluster has finished its first sync, or been given up on."""
        return all(s.synced_once or s.state == State.GAVE_UP for s in self.clusters.values())

    def synced_once(self) -> bool:
        """Every known cluster has synced at least once: a name nobody holds does not exist."""
        return all(s.synced_once for s in self.clusters.values())

    def as_json(self) -> list[dict[str, object]]:
        return [
            {
                "name": s.name,
                "source": s.source,
                "state": s.state.value,
                "since": s.since,
                "error": s.error,
                "syncedOnce": s.synced_once,
                "errors": s.errors,
            }
            for s in sorted([*self.clusters.values(), *self.refused.values()], key=lambda s: s.name)
        ]
