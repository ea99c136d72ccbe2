"""List-then-watch of one resource in one cluster, kept alive forever.

Resumes from the last resourceVersion (bookmarks keep it fresh), relists on 410 Gone (from the
API server's watch cache, `resourceVersion=0`, as informers do), backs off with full jitter on
errors and honours `Retry-After` (bounded). Every way the API can stop making progress is a
failure the cluster sees: connection errors, every HTTP error but 410 (401, 403, 429, 5xx...),
and silence: a watch with no event or bookmark for `liveness` seconds is replaced (a connection
whose peer vanished without a FIN), and a request with no answer within it fails. TCP keepalive
with short timers on the watch's connection finds a dead peer at the TCP level too.

Responses are read raw (`_preload_content=False`) and decoded straight into slim records
(`bodies`): the client's model classes would cost far more per event.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from kubernetes_asyncio.client import ApiClient

from globaldns.errors import GlobalDnsError
from globaldns.sources.kubernetes.bodies import (
    Decode,
    Strip,
    UndecodableBody,
    json_object,
    page,
    resource_version,
    status_text,
    text,
)

log = logging.getLogger(__name__)

PAGE = 500
# Lists in flight at once across every cluster: enough to keep the watch thread busy, few
# enough that 200 clusters' first pages are not all buffered at once (memory that, once
# touched, the process keeps).
LISTS_AT_ONCE = 16
# Backoff doubles this often at most: past it the cap holds, and 2**attempt never overflows a
# float however long an API stays down (hours, in a region outage).
_MAX_DOUBLINGS = 20


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """`base` doubled per failed attempt, never above `cap`, for any number of attempts."""
    doubled: float = base * 2 ** min(attempt, _MAX_DOUBLINGS)
    return min(cap, doubled)


WATCH_SECONDS = (240, 360)  # server-side watch timeout, spread so watches do not renew together
RETRY_AFTER_MAX = 60.0  # a Retry-After is honoured up to this long (a hostile one is bounded)
CONNECT_MAX = 10.0  # seconds a connection may take, at most (and at most the liveness interval)
LIST_SECONDS = 60.0  # a whole list page, at most
# TCP keepalive on a watch's connection: probes after 10 s idle, every 5 s, 3 unanswered mean
# the peer is gone (25 s); unacknowledged data gives up after as long (TCP_USER_TIMEOUT).
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES = 10, 5, 3


class Gone(GlobalDnsError):
    """410: the resourceVersion was compacted away; only a relist recovers."""


class Absent(GlobalDnsError):
    """404 on every path: the resource (a CRD) is not installed in this cluster."""


class Failed(GlobalDnsError):
    """The API answered with an error (not 410): the cluster is not making progress."""

    def __init__(self, message: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds the server asked to wait, when it did


class Silent(GlobalDnsError):
    """No answer within the liveness interval: a server or path that stopped answering."""


@dataclass(frozen=True)
class Resource:
    """`paths` are tried in order (e.g. v1 then v1beta1 of a CRD); `optional` when 404 is normal;
    `decode`, where there are many objects, reads a list's items faster than `strip`."""

    kind: str
    paths: tuple[str, ...]
    strip: Strip
    label_selector: str = ""
    optional: bool = False
    decode: Decode | None = None


class Feed(Protocol):
    """Where a watch delivers records and reports its health (the watch thread's side)."""

    def replace(self, kind: str, records: dict[str, Any]) -> None: ...

    def put(self, kind: str, key: str, record: Any) -> None: ...

    def listed(self, kind: str) -> None:
        """The resource is readable again and its records are current."""

    def failed(self, kind: str, error: str, unreachable: bool) -> None: ...


class ResourceWatch:
    """`lists` is shared by every watch of the source: it bounds the lists in flight."""

    def __init__(
        self,
        api: ApiClient,
        resource: Resource,
        feed: Feed,
        backoff_max: float,
        lists: asyncio.Semaphore,
        liveness: float,
    ) -> None:
        self.api = api
        self.resource = resource
        self.feed = feed
        self.backoff_max = backoff_max
        self.lists = lists
        self.liveness = liveness  # no event or bookmark for this long: the watch is replaced
        self.path = resource.paths[0]
        self.bugs = 0  # unexpected errors (a strip function failing): logged and counted
        # time.monotonic() of the last answer that proved the API alive (an event, a bookmark,
        # a list, a watch accepted): what the cluster's data age counts from
        self.proven = 0.0

    async def run(self) -> None:
        version: str | None = None
        attempt = 0
        while True:
            try:
                if version is None:
                    version = await self._relist()
                version = await self._watch(version)
                attempt = 0
            except Gone:
                log.debug("%s: version %s is gone; relisting", self.path, version)
                version = None
            except Absent:
                version = None
                self.proven = time.monotonic()  # the API answered: the CRD is not there
                self.feed.replace(self.resource.kind, {})
                self.feed.listed(self.resource.kind)
                await asyncio.sleep(self.backoff_max)  # look for the CRD again later
            except Failed as err:
                if err.status == 404 and self.resource.optional:
                    version = None  # the CRD went away while watched: the relist says so
                    continue
                self.feed.failed(self.resource.kind, describe(err), True)
                await asyncio.sleep(self._backoff(attempt, err.retry_after))
                attempt += 1
            except (aiohttp.ClientError, OSError, TimeoutError, UndecodableBody, Silent) as err:
                self.feed.failed(self.resource.kind, describe(err), True)
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
            except Exception as err:  # a bug must not end the watch for good: log it, relist
                self.bugs += 1
                log.exception("%s: unexpected error; relisting", self.resource.kind)
                self.feed.failed(self.resource.kind, describe(err), False)
                version = None
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1

    async def _relist(self) -> str:
        """List and hand the records over; the version to watch from. A method, so the list's
        dict is not held by `run`'s frame for as long as the watch runs (the feed holds the
        records: 10 MiB of dicts at 200 x 1,000)."""
        async with self.lists:
            records, version = await self._list()
        log.debug("%s: listed %d at version %s", self.path, len(records), version)
        self.feed.replace(self.resource.kind, records)
        self.feed.listed(self.resource.kind)
        return version

    def _backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Full jitter, so clusters that broke together do not all come back together; never
        sooner than the server's Retry-After, up to RETRY_AFTER_MAX."""
        delay = random.uniform(0, backoff_delay(attempt, 0.2, self.backoff_max))
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
        return delay

    def _timeout(self, total: float | None = None) -> aiohttp.ClientTimeout:
        """Connecting, and every wait for bytes, bounded by the liveness interval."""
        connect = min(CONNECT_MAX, self.liveness)
        return aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=self.liveness)

    async def _get(self, path: str, query: list[tuple[str, str]], timeout: Any) -> Any:
        if self.resource.label_selector:
            query = [*query, ("labelSelector", self.resource.label_selector)]
        try:
            return await self.api.call_api(
                path,
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except (aiohttp.ServerTimeoutError, TimeoutError):
            raise Silent(f"no answer within {self.liveness:g}s (--watch-liveness)") from None

    async def _list(self) -> tuple[dict[str, Any], str]:
        """Every page of one consistent list; the path that answers is kept for the watch."""
        for path in self.resource.paths:
            records: dict[str, Any] = {}
            token = ""
            while True:
                # The first page from the watch cache (resourceVersion=0), as informers list:
                # 200 clusters relisting at once do not all reach etcd.
                where = ("continue", token) if token else ("resourceVersion", "0")
                query = [("limit", str(PAGE)), where]
                response = await self._get(path, query, self._timeout(LIST_SECONDS))
                async with response:
                    if response.status == 404 and self.resource.optional and not token:
                        break
                    body = await self._read(response)
                    found, token, version = page(body, self.resource.strip, self.resource.decode)
                self.proven = time.monotonic()
                records.update(found)
                if not token:
                    self.path = path
                    return records, version
        raise Absent(self.resource.kind)

    async def _watch(self, version: str) -> str:
        """Stream events until the server ends the watch; returns the version to resume from."""
        query = [
            ("watch", "1"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(random.randint(*WATCH_SECONDS))),
        ]
        response = await self._get(self.path, query, self._timeout())
        async with response:
            if response.status != 200:
                await self._read(response)
            keep_alive(response)
            self.proven = time.monotonic()
            self.feed.listed(self.resource.kind)
            log.debug("%s: watching from version %s", self.path, version)
            buffer = b""
            try:
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    if b"\n" not in buffer:
                        continue
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            version = self._event(line, version)
                    self.proven = time.monotonic()
            except aiohttp.ServerTimeoutError:
                # Silent past the liveness interval: a half-open connection, or a server that
                # stopped sending. Replace it; a new watch that gets no answer either fails.
                log.debug(
                    "%s: no event or bookmark for %gs; reconnecting", self.path, self.liveness
                )
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as err:
                # A cut stream is not an unreachable cluster: resume, and let that tell.
                log.debug("%s: watch cut (%s); resuming", self.path, type(err).__name__)
        return version

    def _event(self, line: bytes, version: str) -> str:
        event = json_object(line, "a watch event")
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise UndecodableBody("a watch event without an object")
        if kind == "ERROR":
            code = obj.get("code")
            status = code if isinstance(code, int) and 100 <= code <= 599 else 500
            if status == 410:
                raise Gone(text(obj.get("message")))
            raise Failed(status_text(status, obj), status, _retry_after(None, obj))
        version = resource_version(obj) or version
        if kind == "BOOKMARK":
            return version
        key, record = self.resource.strip(obj)
        self.feed.put(self.resource.kind, key, None if kind == "DELETED" else record)
        return version

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The body of a 200, or the error it stands for; a body that does not come within the
        liveness interval is silence."""
        try:
            raw = await response.read()
        except aiohttp.ServerTimeoutError:
            raise Silent(f"no answer within {self.liveness:g}s (--watch-liveness)") from None
        if response.status == 200:
            return raw
        try:
            status = json_object(raw, "an error")
        except UndecodableBody:
            status = {}
        if response.status == 410:
            raise Gone(text(status.get("message")))
        retry_after = _retry_after(response.headers.get("Retry-After"), status)
        raise Failed(status_text(response.status, status), response.status, retry_after)


def _retry_after(header: str | None, status: dict[str, Any]) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds) or a Status's
    details.retryAfterSeconds; None when neither says (or says nonsense)."""
    details = status.get("details")
    candidates = (header, details.get("retryAfterSeconds") if isinstance(details, dict) else None)
    for value in candidates:
        try:
            seconds = float(value)  # type: ignore[arg-type]  # checked by the except
        except (TypeError, ValueError):
            continue
        if 0 <= seconds < float("inf"):
            return seconds
    return None


def keep_alive(response: aiohttp.ClientResponse) -> None:
    """TCP keepalive with short timers on the response's connection (kubernetes_asyncio's
    configuration has no socket options, so they are set on the connected socket)."""
    connection = response.connection
    transport = connection.transport if connection is not None else None
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
        ("TCP_USER_TIMEOUT", 1000 * KEEPALIVE_IDLE + 1000 * KEEPALIVE_INTERVAL * KEEPALIVE_PROBES),
    ):
        if hasattr(socket, option):  # Linux has them all; elsewhere the system's timers
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def describe(err: BaseException) -> str:
    """One line for logs and /table; built from the error, which carries no request headers."""
    if isinstance(err, Failed):
        return str(err)
    text = str(err) or type(err).__name__
    return f"{type(err).__name__}: {text}"[:300]
