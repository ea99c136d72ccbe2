"""The admin HTTP server: /metrics, /health, /ready and /table on one port, bounded (SPEC §5).

No request holds the serving loop for more than a slice: `/metrics` copies on the loop what
the collectors read and builds its text in a worker thread; `/table` comes in pages, made and
written as JSON in slices on the loop (`globaldns.table.pages`). A client costs a bounded
amount: aiohttp's keep-alive timer closes an idle connection, and one whose request head is
still incomplete, `KEEPALIVE_SECONDS` after it opened or after its last response; heads are
bounded in size; at most `MAX_CONNECTIONS` are open; a request aiohttp cannot parse is one log
line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from globaldns.errors import GlobalDnsError
from globaldns.server.metrics import Scraper
from globaldns.table.pages import (
    PAGE_NAMES,
    BadContinue,
    ExpiredContinue,
    TablePages,
    UnknownNames,
)

log = logging.getLogger("globaldns.admin")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Idle keep-alive, and a request head still incomplete, this long after the connection opened
# or after its last response (aiohttp's keep-alive timer: bytes do not restart it); also how
# long the unread rest of a request body is drained before the connection is closed.
KEEPALIVE_SECONDS = 5.0
# Prometheus, the kubelet's probes and an operator's port-forward need a handful of
# connections. 256 bounds what idle and half-sent ones hold (a head is buffered up to
# 8 KiB + 32 x 4 KiB: 34 MiB at worst); at the cap the oldest connection is closed for the
# new one, so a flood of idle connections cannot lock the liveness probes out.
MAX_CONNECTIONS = 256
MAX_LINE = 8190  # the request line: `/table?name=` lists of a few hundred bytes fit many times
MAX_FIELD = 4096
MAX_HEADERS = 32


def peer_allowed(remote: str | None, networks: Iterable[Network]) -> bool:
    """Whether a peer address (as aiohttp gives it) is in one of `networks`; an IPv4 peer of a
    dual-stack socket (`::ffff:127.0.0.1`) counts as its IPv4 address."""
    if remote is None:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def build_app(
    scraper: Scraper,
    pages: TablePages,
    unready: Callable[[], str],
    table_from: Sequence[Network],
) -> web.Application:
    """`unready()` says why the server is not ready, or "" when it is; `/table` answers peers
    in `table_from` only (it lists every service, cluster and gateway of the mesh)."""

    # One /table page is made at a time: the loop then runs one slice of it between turns of
    # DNS, however many clients read at once (three at once, taking turns, kept answers about
    # three slices late).
    one_at_a_time = asyncio.Lock()

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def ready(_: web.Request) -> web.Response:
        why = unready()
        if not why:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"{why}\n")

    async def table(request: web.Request) -> web.Response:
        if not peer_allowed(request.remote, table_from):
            return _error(HTTPStatus.FORBIDDEN, _not_exposed(request.remote, table_from))
        query = request.query
        try:
            names = query.getall("name", [])
            if names and ("continue" in query or "limit" in query):
                raise BadQuery("?name= is answered whole: give no continue or limit with it")
            limit = _limit(query)
            async with one_at_a_time:
                if names:
                    page = await pages.named(names)
                else:
                    page = await pages.page(query.get("continue") or None, limit)
                text = await page.text()
        except UnknownNames as err:
            return _error(HTTPStatus.NOT_FOUND, str(err))
        except (BadQuery, BadContinue) as err:
            return _error(HTTPStatus.BAD_REQUEST, str(err))
        except ExpiredContinue as err:
            return _error(HTTPStatus.GONE, str(err))
        return web.Response(text=text, content_type="application/json")

    async def prometheus(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, scraper.freeze())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/table", table)
    app.router.add_get("/metrics", prometheus)
    return app


class BadQuery(GlobalDnsError, ValueError):
    """A `/table` query string that asks for something it cannot (a 400)."""


def _limit(query: Mapping[str, str]) -> int:
    """`?limit=N`, names per page, 1 to `PAGE_NAMES` (the default)."""
    raw = query.get("limit")
    if raw is None:
        return PAGE_NAMES
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= PAGE_NAMES):
        raise BadQuery(f"limit {raw[:20]!r} must be a whole number from 1 to {PAGE_NAMES}")
    return int(raw)


def _not_exposed(remote: str | None, table_from: Sequence[Network]) -> str:
    networks = ",".join(map(str, table_from))
    return (
        f"/table lists every service, cluster and gateway of the mesh, so it answers only "
        f"peers in --table-from ({networks}), and {remote} is not one; read it through "
        "`kubectl port-forward`, or start globaldns with --table-from NETWORK "
        "(0.0.0.0/0,::/0 for every peer)"
    )


def _error(status: HTTPStatus, message: str) -> web.Response:
    return web.Response(
        text=json.dumps({"error": message}, indent=1) + "\n",
        status=status,
        content_type="application/json",
    )


class _OneLineBadRequests(logging.LoggerAdapter[logging.Logger]):
    """aiohttp logs a request it cannot parse with `exception()`: ERROR and a traceback, for a
    client's mistake. One INFO line says it all (a bug in a handler keeps its traceback)."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):
            what = str(msg) % args if args else str(msg)
            reason = " ".join(error.message.split()) or type(error).__name__
            kwargs["exc_info"] = None
            msg, args = "%s: %s (HTTP %d)", (what, reason, error.code)
            level = min(level, logging.INFO)
        super().log(level, msg, *args, **kwargs)


class AdminServer:
    """The listening socket and aiohttp's runner, closed together."""

    def __init__(self, runner: web.AppRunner, server: asyncio.Server) -> None:
        self.runner = runner
        self.server = server

    async def close(self) -> None:
        self.server.close()
        await self.runner.cleanup()


def _capped(handlers: web.Server, cap: int) -> Callable[[], asyncio.BaseProtocol]:
    """aiohttp's protocol factory, closing the oldest open connection when `cap` are open.

    aiohttp has no connection limit of its own, so this wraps its low-level server, which is
    a protocol factory and lists its connections, oldest first.
    """

    def factory() -> asyncio.BaseProtocol:
        open_ = [handler for handler in handlers.connections if handler.transport is not None]
        if len(open_) >= cap:
            open_[0].force_close()
        return handlers()

    return factory


async def start(
    app: web.Application, host: str, port: int, cap: int = MAX_CONNECTIONS
) -> AdminServer:
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=KEEPALIVE_SECONDS,
        lingering_time=KEEPALIVE_SECONDS,
        handler_cancellation=True,  # a page being made stops when its client leaves
        max_line_size=MAX_LINE,
        max_field_size=MAX_FIELD,
        max_headers=MAX_HEADERS,
        logger=_OneLineBadRequests(log),
    )
    await runner.setup()
    assert runner.server is not None  # set by setup()
    try:
        server = await asyncio.get_running_loop().create_server(
            _capped(runner.server, cap), host, port
        )
    except OSError:
        await runner.cleanup()
        raise
    return AdminServer(runner, server)
