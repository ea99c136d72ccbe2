"""A body that is not JSON is the network's fault (the cluster goes unreachable); a strip that
raises is a bug: logged with its traceback, counted, and the watch relists (SPEC §4, issue 7);
a Retry-After is honoured, bounded (issue 16)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from globaldns.sources.kubernetes.watch import (
    RETRY_AFTER_MAX,
    Resource,
    ResourceWatch,
    _retry_after,
)


class Response:
    def __init__(self, body: bytes) -> None:
        self.status = 200
        self.body = body

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc: object) -> None: ...

    async def read(self) -> bytes:
        return self.body


class Api:
    """Answers every list with the same body; counts the calls."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.calls = 0

    async def call_api(self, *args: Any, **kwargs: Any) -> Response:
        self.calls += 1
        return Response(self.body)


class Feed:
    def __init__(self) -> None:
        self.failures: list[tuple[str, bool]] = []

    def replace(self, kind: str, records: dict[str, Any]) -> None: ...

    def put(self, kind: str, key: str, record: Any) -> None: ...

    def listed(self, kind: str) -> None: ...

    def failed(self, kind: str, error: str, unreachable: bool) -> None:
        self.failures.append((error, unreachable))


def broken_strip(obj: dict[str, Any]) -> tuple[str, Any]:
    return obj["metadata"]["name"], obj["spec"]["missing"]


def watching(body: bytes) -> tuple[ResourceWatch, Api, Feed]:
    api, feed = Api(body), Feed()
    resource = Resource("services", ("/x",), broken_strip)
    lists = asyncio.Semaphore(1)
    watch = ResourceWatch(api, resource, feed, 0.01, lists, 20)  # type: ignore[arg-type]  # a stand-in

    async def main() -> None:
        task = asyncio.create_task(watch.run())
        for _ in range(200):
            await asyncio.sleep(0.005)
            if api.calls >= 3:
                break
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    return watch, api, feed


def test_a_body_that_is_not_json_counts_as_unreachable_not_as_a_bug() -> None:
    watch, _, feed = watching(b'{"items": [')
    assert feed.failures and all(unreachable for _, unreachable in feed.failures)
    assert watch.bugs == 0
    assert "not JSON" in feed.failures[0][0]


def test_a_strip_that_raises_is_a_bug_logged_counted_and_relisted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = json.dumps({"items": [{"metadata": {"name": "a"}, "spec": {}}], "metadata": {}})
    watch, api, feed = watching(body.encode())
    assert watch.bugs >= 2 and api.calls >= 2  # relisted after the first
    assert feed.failures and not any(unreachable for _, unreachable in feed.failures)
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


def test_backoff_stays_capped_however_long_the_api_is_down() -> None:
    """Hours of failures (thousands of attempts) must not overflow the doubling and end the
    watch: past the cap every wait stays within --watch-backoff-max."""
    watch, _, _ = watching(b"{}")
    assert all(0 <= watch._backoff(attempt) <= watch.backoff_max for attempt in (0, 30, 5000))


def test_retry_after_is_waited_for_but_never_longer_than_its_bound() -> None:
    watch, _, _ = watching(b"{}")
    assert watch._backoff(0, retry_after=3) >= 3  # above --watch-backoff-max (0.01 here)
    assert watch._backoff(0, retry_after=3600) == RETRY_AFTER_MAX  # a hostile value is bounded


@pytest.mark.parametrize(
    ("header", "status", "seconds"),
    [
        ("7", {}, 7.0),
        (None, {"details": {"retryAfterSeconds": 4}}, 4.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", {"details": {"retryAfterSeconds": 2}}, 2.0),
        ("-5", {}, None),
        ("nan", {}, None),
        ("inf", {"details": "not a mapping"}, None),
        (None, {}, None),
    ],
)
def test_retry_after_comes_from_the_header_or_the_status_and_nonsense_is_ignored(
    header: str | None, status: dict[str, Any], seconds: float | None
) -> None:
    assert _retry_after(header, status) == seconds
