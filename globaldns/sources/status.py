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
    """Which clusters are known and how they are doing."""

    def __init__(self) -> None:
        self.clusters: dict[str, ClusterStatus] = {}
        # Remote Secrets ignored because an older one names the same cluster ID (a counter).
        self.duplicate_secrets = 0

    def set(self, name: str, source: str, state: State, error: str = "", errors: int = 0) -> None:
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
            for s in sorted(self.clusters.values(), key=lambda s: s.name)
        ]
