"""The admin HTTP server: /metrics, /health, /ready and /table on one port."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from globaldns.errors import GlobalDnsError
from globaldns.server import dns


class UnknownNames(GlobalDnsError, LookupError):
    """Names asked about (`/table?name=`, `globaldns table NAME`) that the table does not hold."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(f"not in the table: {', '.join(names)}")
        self.names = tuple(names)


def build_app(
    metrics: CollectorRegistry,
    table_document: Callable[[Sequence[str]], object],
    unready: Callable[[], str],
) -> web.Application:
    """`table_document(names)` raises `UnknownNames` for names the table does not hold;
    `unready()` says why the server is not ready, or "" when it is."""

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def ready(_: web.Request) -> web.Response:
        why = unready()
        if not why:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"{why}\n")

    async def table(request: web.Request) -> web.Response:
        try:
            body = table_document(request.query.getall("name", []))
        except UnknownNames as err:
            return _json({"error": str(err)}, status=404)
        return _json(body)

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/table", table)
    app.router.add_get("/metrics", prometheus)
    return app


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, indent=1) + "\n", status=status, content_type="application/json"
    )


async def start(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # dns.bind: an IPv6 host (`[::]`) serves IPv4 too, as the DNS listeners do; asyncio's own
    # bind would make it IPv6 only, and an IPv4 kubelet's probes would fail.
    await web.SockSite(runner, dns.bind(host, port, socket.SOCK_STREAM)).start()
    return runner
