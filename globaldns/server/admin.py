"""The admin HTTP server: /metrics, /health, /ready and /table on one port."""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from globaldns.sources.status import Registry


def build_app(
    metrics: CollectorRegistry,
    clusters: Registry,
    table_json: Callable[[], object],
    is_ready: Callable[[], bool],
) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def ready(_: web.Request) -> web.Response:
        if is_ready():
            return web.Response(text="ready\n")
        waiting = [s.name for s in clusters.clusters.values() if not s.synced_once]
        why = f"first sync of: {', '.join(waiting)}" if waiting else "answers being compiled"
        return web.Response(status=503, text=f"waiting for {why}\n")

    async def table(_: web.Request) -> web.Response:
        body = {"clusters": clusters.as_json(), "names": table_json()}
        return web.Response(text=json.dumps(body, indent=1), content_type="application/json")

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


async def start(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
