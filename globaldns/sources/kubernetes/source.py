"""The Kubernetes source: every cluster's watches on one dedicated thread and event loop.

Clusters come from the kubeconfig's contexts (or the pod's in-cluster config) and, while the
server runs, from remote-cluster Secrets in the local cluster. Decoding and assembly happen on
the watch thread; the serving loop only applies the resulting slim records (see handoff).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from functools import partial
from typing import Any

from globaldns.sources.kubernetes import slim
from globaldns.sources.kubernetes.clients import (
    CREDENTIALS,
    KUBECONFIG_FIX,
    KubeconfigError,
    MakeClient,
    contexts,
    from_kubeconfig,
    from_remote_secret,
    in_cluster,
    load_kubeconfig,
)
from globaldns.sources.kubernetes.cluster import SECRETS, ClusterWatch
from globaldns.sources.kubernetes.handoff import Outbox
from globaldns.sources.kubernetes.options import KubeSettings
from globaldns.sources.kubernetes.remote_kubeconfig import RemoteKubeconfigRefused, accept
from globaldns.sources.kubernetes.watch import LISTS_AT_ONCE, Resource
from globaldns.sources.status import Registry, State
from globaldns.table.model import TableSink

log = logging.getLogger(__name__)

IN_CLUSTER_NAME = "local"


class RemoteSecrets:
    """The Feed of the Secrets watch: each data key a cluster, each value its kubeconfig."""

    def __init__(self, selection: slim.Selection, settings: KubeSettings) -> None:
        self.resource = Resource(
            SECRETS,
            (f"/api/v1/namespaces/{settings.secret_namespace}/secrets",),
            partial(slim.strip_secret, selection=selection),
            label_selector=settings.secret_selector,
        )
        self.secrets: dict[str, dict[str, str]] = {}
        self.current = False
        self.changed = asyncio.Event()  # the source waits on it and reads `wanted()`
        self._error = ""

    def replace(self, kind: str, records: dict[str, Any]) -> None:
        self.secrets = dict(records)
        self.changed.set()

    def put(self, kind: str, key: str, record: Any) -> None:
        if record is None:
            self.secrets.pop(key, None)
        else:
            self.secrets[key] = record
        self.changed.set()

    def listed(self, kind: str) -> None:
        self.current = True
        self._error = ""

    def failed(self, kind: str, error: str, unreachable: bool) -> None:
        if error != self._error:
            log.warning("remote secrets: %s", error)
        self._error = error

    def wanted(self) -> dict[str, tuple[str, str]]:
        """Cluster name -> (Secret it came from, base64 kubeconfig)."""
        out: dict[str, tuple[str, str]] = {}
        for key in sorted(self.secrets):
            for cluster, encoded in self.secrets[key].items():
                out.setdefault(cluster, (key, encoded))
        return out


class KubernetesSource:
    """`start(loop)` from the serving loop's thread; `stop()` at shutdown."""

    def __init__(self, settings: KubeSettings, sink: TableSink, registry: Registry) -> None:
        self.settings = settings
        self.sink = sink
        self.registry = registry
        self.selection = slim.Selection(
            identity_label=settings.identity_label,
            export_namespaces=settings.export_namespaces,
            exclude_namespaces=settings.exclude_namespaces,
            export_selector=settings.export_selector,
            gateway_services=settings.gateway_services,
            zone=settings.zone,
        )
        self.static = self._static_clusters()
        self.secrets = RemoteSecrets(self.selection, settings)
        self.watches: dict[str, ClusterWatch] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.remote: dict[str, tuple[str, str]] = {}
        self.refused: dict[str, tuple[str, str]] = {}  # clusters whose Secret was refused
        self.outbox: Outbox | None = None
        self.lists = asyncio.Semaphore(LISTS_AT_ONCE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def _static_clusters(self) -> dict[str, MakeClient]:
        """Read at start so that a bad kubeconfig or context stops the server with a message."""
        settings = self.settings
        if settings.kubeconfig is None:
            return {settings.local_cluster or IN_CLUSTER_NAME: in_cluster()}
        document = load_kubeconfig(settings.kubeconfig)
        names = contexts(document, settings.contexts, str(settings.kubeconfig))
        if not names:
            raise KubeconfigError(
                f"{settings.kubeconfig}: the kubeconfig has no contexts; {KUBECONFIG_FIX}"
            )
        return {name: from_kubeconfig(document, name) for name in names}

    # -- serving-loop side ---------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        CREDENTIALS.install()
        logging.getLogger("kubernetes_asyncio").setLevel(logging.WARNING)
        self.outbox = Outbox(self.sink, self.registry, loop)
        # The watch thread decodes JSON while the serving loop answers: hand the GIL over every
        # half millisecond rather than every 5 ms, so a query never waits long behind a decode.
        sys.setswitchinterval(0.0005)
        self._thread = threading.Thread(target=self._run, name="globaldns-kubernetes", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def stop(self, timeout: float = 5.0) -> None:
        if self._loop is None or self._stopping is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)

    def settled(self) -> bool:
        """Every cluster known so far finished its first sync or was given up on."""
        if self.outbox is None or not self.outbox.idle():
            return False
        watches = list(self.watches.values())
        secrets_done = self.secrets.current or self.settings.local_cluster not in self.static
        return (
            bool(watches)
            and secrets_done
            and all(w.synced_once or w.state == State.GAVE_UP for w in watches)
        )

    def internal_errors(self) -> int:
        """Bugs caught and counted (hand-offs that raised, objects a strip failed on)."""
        bugs = sum(w.bugs for w in self.watches.values())
        return bugs + (self.outbox.errors if self.outbox is not None else 0)

    # -- watch-thread side ---------------------------------------------------------------------
    def _run(self) -> None:
        loop = _new_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        self._started.set()
        local = self.settings.local_cluster
        for name, make_client in self.static.items():
            self._add(name, make_client, self.secrets if name == local else None)
        following = asyncio.create_task(self._follow_secrets())
        await self._stopping.wait()
        following.cancel()
        tasks = list(self.tasks.values())
        for name in list(self.tasks):
            self._remove(name, drop=False)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _add(self, name: str, make_client: MakeClient, secrets: RemoteSecrets | None) -> None:
        assert self.outbox is not None
        watch = ClusterWatch(
            name, make_client, self.settings, self.selection, self.outbox, self.lists, secrets
        )
        self.watches[name] = watch
        self.tasks[name] = asyncio.create_task(watch.run(), name=f"cluster {name}")
        log.info("cluster %s: watching", name, extra={"cluster": name})

    def _remove(self, name: str, drop: bool = True) -> None:
        """Stop the cluster's watches; nothing it does after this reaches the table."""
        watch = self.watches.pop(name, None)
        if watch is not None:
            watch.close()
        task = self.tasks.pop(name, None)
        if task is not None:
            task.cancel()
        if drop and self.outbox is not None:
            self.outbox.drop_cluster(name, forget=True)
            log.info("cluster %s: removed", name, extra={"cluster": name})

    async def _follow_secrets(self) -> None:
        while True:
            await self.secrets.changed.wait()
            self.secrets.changed.clear()
            self.set_remote_clusters(self.secrets.wanted())

    def set_remote_clusters(self, wanted: dict[str, tuple[str, str]]) -> None:
        """Start, restart (new kubeconfig) or stop remote clusters to match the Secrets.

        A kubeconfig is checked on the allowlist before any client exists; a refused one stops
        the cluster (as a removed Secret would) and is shown as refused until its Secret changes.
        """
        for name, (secret, encoded) in wanted.items():
            if name in self.static or (secret, encoded) in (
                self.remote.get(name),
                self.refused.get(name),
            ):
                continue
            try:
                accepted = accept(encoded, self.settings.allowed)
            except RemoteKubeconfigRefused as err:
                self._refuse(name, secret, encoded, err)
                continue
            if accepted.insecure:
                log.warning(
                    "cluster %s: Secret %s key %s turns TLS checking off "
                    "(insecure-skip-tls-verify, allowed by --allow-remote-kubeconfig)",
                    name, secret, name, extra={"cluster": name},
                )  # fmt: skip
            self.refused.pop(name, None)
            if name in self.remote:
                self._remove(name)
            self._add(name, from_remote_secret(accepted), None)
            self.remote[name] = (secret, encoded)
        for name in [n for n in self.remote if n not in wanted]:
            del self.remote[name]
            self._remove(name)
        for name in [n for n in self.refused if n not in wanted]:
            del self.refused[name]
            self._remove(name)

    def _refuse(self, name: str, secret: str, encoded: str, err: RemoteKubeconfigRefused) -> None:
        assert self.outbox is not None
        log.error(
            "cluster %s: Secret %s key %s refused: %s; the cluster is not watched",
            name, secret, name, err, extra={"cluster": name},
        )  # fmt: skip
        if self.remote.pop(name, None) is not None:
            self._remove(name)
        self.refused[name] = (secret, encoded)
        self.outbox.refuse(name, f"Secret {secret} key {name}: {err}", err.reason.value)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def sync_once(source: KubernetesSource, timeout: float) -> None:
    """For `globaldns table`: run until every cluster synced once (or `timeout`), then stop."""

    async def wait() -> None:
        source.start(asyncio.get_running_loop())
        deadline = time.monotonic() + timeout
        while not source.settled() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        source.stop()
        while source.outbox is not None and not source.outbox.idle():
            await asyncio.sleep(0)  # let the last hand-offs apply

    asyncio.run(wait())
