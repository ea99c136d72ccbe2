"""The hand-off to the serving loop never wedges, and tells the table when every cluster has
synced once (until then a name nobody holds is SERVFAIL, not NXDOMAIN)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any

import pytest

from globaldns.sources.kubernetes.clients import CREDENTIALS, REDACTED
from globaldns.sources.kubernetes.handoff import Outbox
from globaldns.sources.status import Registry, State
from globaldns.table.model import Cluster, Entry, GatewayHealth, Instance
from globaldns.table.scheduler import CommitScheduler


class RecordingSink:
    """A TableSink that records what reached it; instance key "bad" raises like a bug would."""

    def __init__(self) -> None:
        self.instances: dict[tuple[str, str], Instance | None] = {}
        self.complete: list[bool] = []
        self.commits = 0
        self.committed: list[int] = []  # instances held at each commit
        self.failing_commits = 0  # the next this many commits raise

    def put_instance(self, cluster: str, key: str, instance: Instance | None) -> None:
        if key == "bad":
            raise TypeError("a bug in the table")
        self.instances[(cluster, key)] = instance

    def set_complete(self, complete: bool) -> None:
        self.complete.append(complete)

    def reclaim(self, until: float) -> bool:
        return True  # claims are not kept: nothing to bring in line

    def commit(self, budget: float | None = None) -> bool:
        self.commits += 1
        self.committed.append(len(self.instances))
        if self.failing_commits:
            self.failing_commits -= 1
            raise RuntimeError("a bug in compiling")
        return True

    def put_cluster(self, cluster: Cluster) -> None: ...

    def drop_cluster(self, name: str) -> None: ...

    def put_entry(self, cluster: str, key: str, entry: Entry | None) -> None: ...

    def put_gateway_health(
        self, cluster: str, address: str, health: GatewayHealth | None
    ) -> None: ...


def handing_off(
    steps: list[tuple[str, Any]],
    sink: RecordingSink | None = None,
    scheduler: CommitScheduler | None = None,
) -> tuple[Outbox, RecordingSink, Registry]:
    """Run the Outbox on a loop: each step a method and its args, drained before the next."""
    sink, registry = sink or RecordingSink(), Registry()
    scheduler = scheduler or CommitScheduler(sink)

    async def main() -> Outbox:
        outbox = Outbox(sink, registry, asyncio.get_running_loop(), scheduler)
        for method, args in steps:
            getattr(outbox, method)(*args)
            for _ in range(100):
                await asyncio.sleep(0)
                if outbox.idle():
                    break
        return outbox

    return asyncio.run(main()), sink, registry


INSTANCE = Instance("web.bar", ("10.0.0.1",), 1)


def test_a_change_that_raises_is_counted_and_later_changes_still_arrive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RecordingSink()
    scheduler = CommitScheduler(sink)  # counts the changes that raised
    with caplog.at_level(logging.ERROR):
        outbox, sink, _ = handing_off(
            [
                ("put_instance", ("a", "bad", INSTANCE)),
                ("put_instance", ("a", "bad", None)),
                ("put_instance", ("a", "good", INSTANCE)),
            ],
            sink,
            scheduler,
        )
    assert sink.instances == {("a", "good"): INSTANCE}
    assert scheduler.errors == 2
    assert outbox.idle()
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1  # once, with its traceback


def test_a_commit_that_raises_leaves_the_hand_off_free_for_the_next_change() -> None:
    sink = RecordingSink()
    sink.failing_commits = 1
    scheduler = CommitScheduler(sink)  # counts the commit that raised
    outbox, sink, _ = handing_off(
        [("put_instance", ("a", "one", INSTANCE)), ("put_instance", ("a", "two", INSTANCE))],
        sink,
        scheduler,
    )
    assert set(sink.instances) == {("a", "one"), ("a", "two")}
    assert (scheduler.errors, sink.commits, outbox.idle()) == (1, 2, True)


def test_the_table_is_incomplete_until_every_cluster_synced_once() -> None:
    _, sink, _ = handing_off(
        [
            ("set_state", ("a", State.SYNCING)),
            ("set_state", ("b", State.SYNCING)),
            ("set_state", ("a", State.SYNCED)),
            ("set_state", ("b", State.GAVE_UP)),
            ("set_state", ("b", State.SYNCED)),
            ("set_state", ("b", State.STALE)),
        ]
    )
    assert sink.complete == [False, True]


def test_a_removed_cluster_that_never_synced_no_longer_holds_the_table_incomplete() -> None:
    _, sink, _ = handing_off(
        [
            ("set_state", ("a", State.SYNCED)),
            ("set_state", ("b", State.SYNCING)),
            ("drop_cluster", ("b", True)),
        ]
    )
    assert sink.complete == [False, True, False, True]


def test_watch_failures_are_counted_per_cluster() -> None:
    _, _, registry = handing_off([("set_state", ("a", State.STALE, "services: refused", 3))])
    assert registry.clusters["a"].errors == 3
    assert registry.as_json()[0]["errors"] == 3


def test_a_refused_cluster_is_listed_and_counted_but_never_holds_the_table_incomplete() -> None:
    _, sink, registry = handing_off(
        [
            ("set_state", ("a", State.SYNCED)),
            ("refuse", ("b", "Secret g/s key b: users[0].user.exec: refused", "exec")),
        ]
    )
    assert sink.complete == [False, True]
    assert registry.complete()
    assert [(c["name"], c["state"]) for c in registry.as_json()] == [
        ("a", "synced"),
        ("b", "refused"),
    ]
    assert registry.refusals == {"exec": 1}


def test_a_refused_cluster_whose_secret_is_fixed_is_a_cluster_again() -> None:
    _, _, registry = handing_off(
        [
            ("refuse", ("b", "refused", "exec")),
            ("unrefuse", ("b",)),
            ("set_state", ("b", State.SYNCING)),
        ]
    )
    assert registry.refused == {}
    assert registry.clusters["b"].state == State.SYNCING


def test_cluster_errors_shown_in_table_are_redacted_as_logs_are() -> None:
    CREDENTIALS.add(iter(["handoff-test-token-0123456789"]))
    _, _, registry = handing_off(
        [
            ("set_state", ("a", State.STALE, "401 for token handoff-test-token-0123456789")),
            ("refuse", ("b", "bad handoff-test-token-0123456789", "malformed")),
        ]
    )
    assert [c["error"] for c in registry.as_json()] == [
        f"401 for token {REDACTED}",
        f"bad {REDACTED}",
    ]


def test_a_cluster_given_up_on_holds_the_table_incomplete_until_it_is_missing() -> None:
    _, sink, _ = handing_off(
        [
            ("set_state", ("a", State.SYNCED)),
            ("set_state", ("b", State.SYNCING)),
            ("set_state", ("b", State.GAVE_UP)),
            ("set_state", ("b", State.MISSING)),
        ]
    )
    assert sink.complete == [False, True, False, True]


def _first_commit_sees(together: bool) -> int:
    """How many of three changes the first commit saw, with a turn too short for more than one
    change (as when the serving loop is busy)."""
    sink = RecordingSink()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        outbox = Outbox(sink, Registry(), loop, CommitScheduler(sink, budget=0.0))
        with outbox.together("a") if together else contextlib.nullcontext():
            for key in ("one", "two", "three"):
                outbox.put_instance("a", key, INSTANCE)
        for _ in range(100):
            await asyncio.sleep(0)
            if outbox.idle():
                break

    asyncio.run(main())
    return sink.committed[0]


def test_changes_made_together_reach_the_table_in_one_commit() -> None:
    assert _first_commit_sees(together=False) == 1  # otherwise, in turns
    assert _first_commit_sees(together=True) == 3


def test_a_traceback_carrying_a_credential_is_redacted_and_the_record_keeps_its_exception() -> None:
    secret = "traceback-test-token-0123456789"
    CREDENTIALS.add(iter([secret]))
    try:
        raise RuntimeError(f"401 for {secret}")
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert CREDENTIALS.filter(record)
    text = logging.Formatter().format(record)
    assert secret not in text and f"401 for {REDACTED}" in text
    assert record.exc_info is not None  # another handler of the record still sees it
