"""One cluster's watches, its state (syncing, synced, stale, gone, gave-up, missing: see
lifecycle) and its gateway lookups.

Unreachable (any watch that cannot make progress: connection errors, every HTTP error but 410,
silence past the liveness interval; see watch) means stale: the last-known records keep serving
for `serve_stale` seconds, then a remote cluster is withdrawn from the table until it answers
again; the local cluster never is (kube-proxy keeps routing to its ClusterIPs while its API is
down).

A watch made for a changed remote Secret is a *new connection* (`replacing`): it runs beside the
serving one, reports only as the cluster's `newConnection`, and at its first sync takes over
what the table holds of the cluster (make-before-break). A *retired* watch (its Secret removed)
has no connection left: its data goes through the stale rules, then the cluster is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import ConfigException

from globaldns.sources.kubernetes import slim
from globaldns.sources.kubernetes.assemble import (
    ENTRIES,
    NAMESPACES,
    NODES,
    SERVICES,
    SLICES,
    ClusterView,
)
from globaldns.sources.kubernetes.clients import KubeconfigError, MakeClient
from globaldns.sources.kubernetes.frames import Held
from globaldns.sources.kubernetes.handoff import Changes
from globaldns.sources.kubernetes.lifecycle import Effect, Event, event_of, next_state
from globaldns.sources.kubernetes.mcs import (
    EXPORTS,
    EXPORTS_PATH,
    LOCAL_NAMESPACES,
    strip_namespace_name,
    strip_service_export,
)
from globaldns.sources.kubernetes.mcs_imports import (
    IMPORT_SLICES,
    IMPORTS,
    IMPORTS_PATH,
    SERVICE_LABEL,
    decode_import_slice,
    strip_import_slice,
    strip_service_import,
)
from globaldns.sources.kubernetes.options import ClusterOverride, KubeSettings, Selection
from globaldns.sources.kubernetes.watch import (
    Feed,
    Resource,
    ResourceWatch,
    backoff_delay,
    describe,
)
from globaldns.sources.status import State
from globaldns.table.model import is_remote

log = logging.getLogger(__name__)

SECRETS = "secrets"
RESUMED = "process"  # a resumed cluster's reason to be stale, until its first list
STALE_TIMED = frozenset({State.STALE, State.GAVE_UP})  # the states a stale timer bounds
SLICES_PATH = "/apis/discovery.k8s.io/v1/endpointslices"
MEANING = {
    State.GAVE_UP: (
        ": no first sync within --sync-timeout; names no synced cluster holds answer SERVFAIL"
        " for --serve-stale more, then NXDOMAIN"
    ),
    State.MISSING: ": never synced; names no synced cluster holds answer NXDOMAIN",
}


class Watched(Feed, Protocol):
    """A Feed that also names the resource it is fed by (the remote Secrets)."""

    resource: Resource


def resources(
    selection: Selection, region_known: bool, local: bool = False, imports: bool = False
) -> list[Resource]:
    def bind(read: Callable[..., tuple[str, Any]]) -> Callable[[Any], tuple[str, Any]]:
        return partial(read, selection=selection)

    found = [
        Resource(
            SERVICES,
            ("/api/v1/services",),
            bind(slim.strip_service),
            decode=bind(slim.decode_service),
        ),
        # Only slices with a Service (those without name nothing): an MCS implementation's
        # labelled slices, 200,000 at 200 x 1,000, are the imports feed's alone.
        Resource(
            SLICES,
            (SLICES_PATH,),
            bind(slim.strip_endpoint_slice),
            slim.SERVICE_NAME_LABEL,
            decode=bind(slim.decode_endpoint_slice),
        ),
        Resource(NAMESPACES, ("/api/v1/namespaces",), bind(slim.strip_namespace)),
        Resource(
            ENTRIES,
            (
                "/apis/networking.istio.io/v1/serviceentries",
                "/apis/networking.istio.io/v1beta1/serviceentries",
            ),
            bind(slim.strip_service_entry),
            optional=True,
        ),
        Resource(EXPORTS, (EXPORTS_PATH,), bind(strip_service_export), optional=True),
    ]
    if local:  # clusterset names exist only for the local cluster's namespaces (SPEC §7)
        found.append(
            Resource(LOCAL_NAMESPACES, ("/api/v1/namespaces",), bind(strip_namespace_name))
        )
    if local and imports:  # what an MCS implementation imported (--mcs-imports)
        found += [
            Resource(IMPORTS, (IMPORTS_PATH,), bind(strip_service_import), optional=True),
            Resource(
                IMPORT_SLICES,
                (SLICES_PATH,),
                bind(strip_import_slice),
                SERVICE_LABEL,
                decode=bind(decode_import_slice),
            ),
        ]
    if not region_known:
        found.append(Resource(NODES, ("/api/v1/nodes",), bind(slim.strip_node)))
    return found


class ClusterWatch:
    """Runs on the watch thread's loop; `run()` until cancelled."""

    def __init__(
        self,
        name: str,
        make_client: MakeClient,
        settings: KubeSettings,
        selection: Selection,
        outbox: Changes,
        lists: asyncio.Semaphore,
        secrets: Watched | None = None,
        replacing: Callable[[ClusterWatch], None] | None = None,
    ) -> None:
        self.name = name
        # Called at the first sync of a new connection, which until then only reports as the
        # cluster's `newConnection`: the source retires the old one and calls `adopt`.
        self.replacing = replacing
        self.who = f"{name} (new connection)" if replacing else name  # how log lines name it
        self.local = not is_remote(name, settings.local_cluster)  # never withdrawn for staleness
        self.retired = False  # its Secret was removed: no connection, data under stale rules
        self.forgotten: Callable[[str], None] | None = None  # told when a retired one goes
        # Every line about the cluster carries it as a field (`--log-format json`).
        self.log = logging.LoggerAdapter(log, {"cluster": name})
        self.make_client = make_client
        self.settings = settings
        self.selection = selection
        self.outbox = outbox
        self.lists = lists  # bounds the lists in flight across clusters (watch.LISTS_AT_ONCE)
        self.secrets = secrets  # the remote-secret feed, for the local cluster only
        override = settings.overrides.get(name, ClusterOverride())
        imports = settings.mcs_imports
        self.resources = resources(selection, override.region is not None, self.local, imports)
        self.view = ClusterView(name, outbox, override, selection.gateway_services)
        self.view.published = False
        self.current: set[str] = set()  # kinds whose records are up to date
        self.failing: dict[str, tuple[str, bool]] = {}
        self.errors = 0  # watch failures so far
        self.synced_once = False
        self.state = State.SYNCING
        self.watches: list[ResourceWatch] = []
        self.client_bugs = 0  # make_client raising what no loader failure raises
        self._expiry: asyncio.TimerHandle | None = None
        self._resolve_now = asyncio.Event()
        self.closed = False

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.report()
        give_up = loop.call_later(self.settings.sync_timeout, self.report, Event.SYNC_TIMEOUT)
        api: ApiClient | None = None
        try:
            api = await self._connect()
            feeds: list[tuple[Resource, Feed]] = [(r, self) for r in self.resources]
            if self.secrets is not None:
                feeds.append((self.secrets.resource, self.secrets))
            settings = self.settings
            self.watches = [
                ResourceWatch(
                    api, resource, feed, settings.backoff_max, self.lists, settings.liveness
                )
                for resource, feed in feeds
            ]
            await asyncio.gather(*(w.run() for w in self.watches), self._resolve_gateways())
        finally:
            # Cancelled by the source, which closes or retires the cluster itself: a retired
            # one keeps its stale timer.
            give_up.cancel()
            if api is not None:
                with contextlib.suppress(Exception):
                    await api.close()

    def close(self) -> None:
        """No more timers: a removed cluster must not expire or report after its removal."""
        self.closed = True
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    async def _connect(self) -> ApiClient:
        attempt = 0
        while True:
            try:
                return await self.make_client()
            except (KubeconfigError, ConfigException, OSError, aiohttp.ClientError) as err:
                self.failed("client", describe(err), True)  # files, exec plugins, the network
            except Exception as err:  # a bug in loading: logged and counted, not an outage
                self.client_bugs += 1
                self.log.exception("cluster %s: making its API client failed", self.who)
                self.failed("client", describe(err), False)
            await asyncio.sleep(backoff_delay(attempt, 0.5, self.settings.backoff_max))
            attempt += 1

    def data_age(self) -> float | None:
        """Seconds since the least recent of its watches last proved alive (an event, a
        bookmark, a list, a watch accepted); None until its first sync. Read from the serving
        loop: only floats of the watch thread's are read."""
        if not self.synced_once:
            return None
        proven = [w.proven for w in self.watches if w.feed is self]
        return time.monotonic() - min(proven) if proven else None

    @property
    def bugs(self) -> int:
        """Objects a strip function failed on: bugs, not unreachability."""
        return self.client_bugs + sum(w.bugs for w in self.watches)

    # -- the Feed the watches write into ---------------------------------------------------------
    def replace(self, kind: str, records: dict[str, Any]) -> None:
        hostnames = self.view.gateway_hostnames()
        self.view.replace(kind, records)
        self._hostnames_from(hostnames)

    def put(self, kind: str, key: str, record: Any) -> None:
        hostnames = self.view.gateway_hostnames()
        self.view.put(kind, key, record)
        self._hostnames_from(hostnames)

    def listed(self, kind: str) -> None:
        self.current.add(kind)
        self.failing.pop(kind, None)
        self.failing.pop("client", None)
        self.failing.pop(RESUMED, None)
        self.report()

    def failed(self, kind: str, error: str, unreachable: bool) -> None:
        if self.failing.get(kind) != (error, unreachable):
            self.log.warning("cluster %s: %s: %s", self.who, kind, error)
        self.failing[kind] = (error, unreachable)
        self.errors += 1
        self.report()

    # -- state -------------------------------------------------------------------------------
    def adopt(self, previous: ClusterWatch | None) -> None:
        """Become the cluster's serving watch in place of `previous` (closed by the source, or
        None when it is gone already): its table data is the starting point, its error count
        goes on growing."""
        self.replacing = None
        self.who = self.name
        if previous is not None:
            self.errors += previous.errors
            self.view.adopt(previous.view)

    def resume(self, held: Held) -> None:
        """Take over a cluster a previous watch process served (it died): its data keeps
        serving under the stale rules, its stale window going on, until this connection has
        synced; then it is replaced in one change, as a new connection replaces an old one."""
        self.synced_once = held.synced_once
        self.state = State.STALE if held.state == State.SYNCED else held.state
        self.view.hold(held.record, dict(held.instances), dict(held.entries), dict(held.exports))
        if held.state not in (State.SYNCING, State.GONE, State.MISSING):
            self.failing[RESUMED] = ("the watch process restarted; its data serves", True)
        if held.stale_for is not None and not self.local and self.state in STALE_TIMED:
            self._expiry = asyncio.get_running_loop().call_later(
                max(held.stale_for, 0.0), self.report, Event.STALE_TIMEOUT
            )

    def retire(self) -> None:
        """The cluster's Secret was removed: its connection is gone (the source cancelled it);
        the data serves on under the stale rules, as for an unreachable cluster."""
        self.retired = True
        self.failing = {SECRETS: ("its remote Secret was removed", True)}
        self.report()

    def report(self, event: Event | None = None) -> None:
        """Feed the lifecycle one event (by default, what the watches' reports add up to)."""
        if self.closed:
            return
        if event is None:
            unreachable = any(u for _, u in self.failing.values())
            event = event_of(all(r.kind in self.current for r in self.resources), unreachable)
        state, effects = next_state(self.state, event, self.local)
        if state == State.SYNCED and self.replacing is not None:
            self.replacing(self)  # make-before-break: this connection now serves the cluster
        error = "; ".join(f"{kind}: {e}" for kind, (e, _) in sorted(self.failing.items()))
        if state != self.state:
            self.log.log(
                logging.ERROR if state in MEANING else logging.INFO,
                "cluster %s: %s%s%s", self.who, state.value, f" ({error})" if error else "",
                MEANING.get(state, ""),
            )  # fmt: skip
        self.state = state
        self.synced_once = self.synced_once or state == State.SYNCED
        if not self._apply(effects, state):
            return  # a retired cluster, forgotten
        if self.replacing is not None:
            self.outbox.set_next(self.name, state, error)
        else:
            self.outbox.set_state(self.name, state, error, self.errors, self.data_age)

    def _apply(self, effects: Effect, state: State) -> bool:
        """Do what the lifecycle says; False when that was forgetting a retired cluster."""
        if effects & (Effect.STOP_STALE_TIMER | Effect.PUBLISH) and self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if effects & Effect.START_STALE_TIMER and self._expiry is None:
            self._expiry = asyncio.get_running_loop().call_later(
                self.settings.serve_stale, self.report, Event.STALE_TIMEOUT
            )
        if effects & Effect.WITHDRAW:
            self._expiry = None
            if self.retired:
                self.log.warning(
                    "cluster %s: its remote Secret was removed %gs ago: its entries no longer "
                    "serve; removed", self.name, self.settings.serve_stale,
                )  # fmt: skip
                self.close()
                self.outbox.drop_cluster(self.name, forget=True)
                if self.forgotten is not None:
                    self.forgotten(self.name)
                return False
            self.log.warning(
                "cluster %s: unreachable for %gs: its entries no longer serve",
                self.name,
                self.settings.serve_stale,
            )
            self.view.withdraw()
        # Synced means published: a resumed cluster (held data) publishes at its first sync.
        if (effects & Effect.PUBLISH or state == State.SYNCED) and not self.view.published:
            self.view.publish()
        return True

    # -- gateway hostnames -------------------------------------------------------------------
    def _hostnames_from(self, before: tuple[str, ...]) -> None:
        """Resolve at once when the gateway Service names other hostnames than before."""
        if self.view.gateway_hostnames() != before:
            self._resolve_now.set()

    async def _resolve_gateways(self) -> None:
        """Resolve the gateway's hostnames now when they change, and again every interval."""
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resolve_now.wait(), self.settings.resolve_interval)
            self._resolve_now.clear()
            resolved: dict[str, tuple[str, ...]] = {}
            for hostname in self.view.gateway_hostnames():
                try:
                    infos = await loop.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
                except OSError as err:
                    self.log.warning("cluster %s: gateway %s: %s", self.who, hostname, err)
                    resolved[hostname] = self.view.resolved.get(hostname, ())
                    continue
                resolved[hostname] = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
            if resolved != self.view.resolved:
                self.view.set_resolved(resolved)
