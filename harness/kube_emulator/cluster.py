"""One emulated cluster: its HTTPS listener (which can go down and come back on the same port),
its store, injected faults and request log."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .api import ApiHandler
from .resources import PLATFORM_CRDS, ResourceCatalog, ResourceType
from .status import ApiError
from .store import ClusterStore, Obj
from .tokens import Tokens
from .workloads import PodOutcome, reconcile

if TYPE_CHECKING:
    from .api import Target

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "istio-system")


@dataclass
class Faults:
    """Failures a test asks for: 403 per resource (and verb), 409 per object, a fixed delay,
    one status (401, 429, 5xx...) for every request, requests that hang unanswered."""

    forbidden: set[tuple[str, str | None]] = field(default_factory=set)
    conflicts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    delay: float = 0.0
    status: int = 0  # every API request answers this code (0: none)
    retry_after: int | None = None  # with `status`: the Retry-After header and retryAfterSeconds
    # Set while requests are answered; cleared, every new request waits unanswered (a server
    # that accepts connections and never replies) until the fault is cleared.
    answering: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.answering.set()

    def failure(self) -> ApiError | None:
        """The error every request gets while `status` is set."""
        if not self.status:
            return None
        details = {} if self.retry_after is None else {"retryAfterSeconds": self.retry_after}
        return ApiError(self.status, f"injected HTTP {self.status}", None, **details)

    def clear(self) -> None:
        self.forbidden.clear()
        self.conflicts.clear()
        self.delay = 0.0
        self.status, self.retry_after = 0, None
        self.answering.set()

    def forbids(self, resource: str, verb: str) -> bool:
        return (resource, None) in self.forbidden or (resource, verb) in self.forbidden

    def consume_conflict(self, target: Target, store: ClusterStore) -> None:
        key = (target.rtype.resource, target.namespace or "", target.name or "")
        remaining = self.conflicts.get(key, 0)
        if remaining <= 0:
            return
        if remaining == 1:
            del self.conflicts[key]
        else:
            self.conflicts[key] = remaining - 1
        raise store.conflict(target.rtype, target.name or "")


def service_cidr(index: int) -> str:
    """A distinct /20 per cluster index (room for 4,000 Services, 2,560 clusters)."""
    return f"10.{96 + index // 16}.{(index % 16) * 16}.0/20"


class Cluster:
    """A cluster's API server; `up()`/`down()` open and close its listener, keeping the port."""

    def __init__(
        self,
        name: str,
        token: str,
        index: int,
        ssl_context: ssl.SSLContext,
        bookmark_interval: float,
        service_entries: bool = True,
        ca_pem: bytes = b"",
    ) -> None:
        self.name = name
        self.token = token
        self.port = 0
        self.ssl_context = ssl_context
        self.bookmark_interval = bookmark_interval
        self.catalog = ResourceCatalog(service_entries)
        self.store = ClusterStore(service_cidr(index))
        self.faults = Faults()
        self.pod_outcome = PodOutcome.READY
        self.requests: deque[dict[str, Any]] = deque(maxlen=20_000)
        self.runner: web.AppRunner | None = None
        self.tokens = Tokens(token, ca_pem, self.resource_type("v1", "Secret"))
        self.store.observer = partial(self.tokens.observe, self.store)
        for namespace in DEFAULT_NAMESPACES:
            self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def is_up(self) -> bool:
        return self.runner is not None

    async def up(self) -> None:
        if self.runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", ApiHandler(self).handle)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=0.1,
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(
            runner, "127.0.0.1", self.port, ssl_context=self.ssl_context, reuse_address=True
        )
        await site.start()
        self.port = runner.addresses[0][1]
        self.runner = runner

    async def down(self) -> None:
        """Close the listener and every connection abruptly, as a crashed API server would."""
        runner, self.runner = self.runner, None
        if runner is None:
            return
        self.drop_watches()
        server = runner.server
        for connection in server.connections if server is not None else []:
            if connection.transport is not None:
                connection.transport.abort()
        await runner.cleanup()

    # test controls

    def rotate_token(self) -> str:
        """A new bearer token; the old one is refused from the next request on (an open watch
        goes on streaming, as on a real API server, which authenticates a request once)."""
        self.token = self.tokens.admin = secrets.token_urlsafe(24)
        return self.token

    def stall_watches(self) -> int:
        """Every open watch stops sending (no event, no bookmark) and stays open, as over a
        connection whose peer vanished without a FIN; new watches are not affected. Returns
        how many."""
        watchers = self.store.all_watchers()
        for watcher in watchers:
            watcher.stalled = True
        return len(watchers)

    def drop_watches(self) -> int:
        """Cut every open watch connection without a final chunk; returns how many."""
        watchers = self.store.all_watchers()
        for watcher in watchers:
            watcher.abort()
            watcher.queue.put_nowait(None)
        return len(watchers)

    def resource_type(self, api_version: str, kind: str) -> ResourceType:
        rtype = self.catalog.by_kind(api_version, kind)
        if rtype is None:
            raise ApiError(404, f"no resource {kind} in {api_version} in cluster {self.name}")
        return rtype

    def put(self, obj: Obj) -> Obj:
        """Create or replace an object, bypassing auth and faults (bumps RV, emits events)."""
        rtype = self.resource_type(obj.get("apiVersion", ""), obj.get("kind", ""))
        return self.store.put(rtype, obj)

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> Obj:
        return self.store.delete(self.resource_type(api_version, kind), namespace, name)

    def objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Obj]:
        rtype = self.resource_type(api_version, kind)
        return self.store.list(rtype, namespace, lambda _: True)

    def set_load_balancer(self, namespace: str, name: str, ingress: list[dict[str, str]]) -> Obj:
        """Set status.loadBalancer.ingress of a Service (entries like {"ip": ...})."""
        rtype = self.resource_type("v1", "Service")
        current = self.store.get(rtype, namespace, name)
        updated = {**current, "status": {"loadBalancer": {"ingress": ingress}}}
        updated["metadata"] = dict(current["metadata"])
        return self.store.update(rtype, updated, check_version=False)

    def set_service_entries(self, installed: bool) -> None:
        """Install or remove the ServiceEntry CRD; removing it deletes its objects."""
        if not installed and self.catalog.service_entries_installed:
            rtype = self.resource_type("networking.istio.io/v1", "ServiceEntry")
            for obj in self.store.list(rtype, None, lambda _: True):
                self.store.delete(rtype, obj["metadata"]["namespace"], obj["metadata"]["name"])
            for watcher in list(self.store.watchers.get(rtype.storage, ())):
                watcher.queue.put_nowait(None)
        self.catalog.service_entries_installed = installed

    def after_write(self, rtype: ResourceType, obj: Obj) -> None:
        """Run the controllers the emulator stands in for: a Deployment gets its pods."""
        if rtype.storage == ("apps", "deployments"):
            types = {
                k: self.resource_type(v, k) for k, v in (("Pod", "v1"), ("ReplicaSet", "apps/v1"))
            }
            reconcile(self.store, types, obj, self.pod_outcome)

    def set_crd(self, name: str, installed: bool) -> None:
        """Install or remove a platform CRD (`resources.PLATFORM_CRDS`); removing deletes its
        objects."""
        if not installed and name in self.catalog.platform_crds:
            rtype = PLATFORM_CRDS[name]
            for obj in self.store.list(rtype, None, lambda _: True):
                meta = obj["metadata"]
                self.store.delete(rtype, meta.get("namespace") or "", meta["name"])
            for watcher in list(self.store.watchers.get(rtype.storage, ())):
                watcher.queue.put_nowait(None)  # its watches end, as the API server ends them
        self.catalog.set_platform_crd(name, installed)

    def log_request(self, request: web.Request, status: int) -> None:
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "contentType": request.headers.get("Content-Type", ""),
                "status": status,
            }
        )
