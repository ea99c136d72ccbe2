"""The Kubernetes source: every cluster's watches on one event loop, a dedicated thread's
(`start`) or the watch process's own (`run`, see worker and supervisor).

Clusters come from the kubeconfig's contexts (or the pod's in-cluster config) and, while the
server runs, from remote-cluster Secrets in the local cluster. Decoding and assembly happen on
the watches' loop; the serving loop only applies the resulting slim records (see handoff).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Collection

from globaldns import runtime
from globaldns.sources.kubernetes.clients import (
    KUBECONFIG_FIX,
    KubeconfigError,
    MakeClient,
    contexts,
    from_kubeconfig,
    from_remote_secret,
    guard_logs,
    in_cluster,
    load_kubeconfig,
)
from globaldns.sources.kubernetes.cluster import ClusterWatch
from globaldns.sources.kubernetes.frames import Held
from globaldns.sources.kubernetes.handoff import Changes, Outbox
from globaldns.sources.kubernetes.options import KubeSettings
from globaldns.sources.kubernetes.remote_kubeconfig import RemoteKubeconfigRefused, accept
from globaldns.sources.kubernetes.remote_secrets import RemoteSecrets
from globaldns.sources.kubernetes.watch import LISTS_AT_ONCE
from globaldns.sources.status import Registry, State
from globaldns.table.model import TableSink, is_remote
from globaldns.table.scheduler import CommitScheduler

log = logging.getLogger(__name__)

IN_CLUSTER_NAME = "local"


class KubernetesSource:
    """`start(loop)` from the serving loop's thread; `stop()` at shutdown. What the watches
    say reaches `sink` through the Outbox, applied and committed in `scheduler`'s turns."""

    def __init__(
        self,
        settings: KubeSettings,
        sink: TableSink | None,
        registry: Registry,
        scheduler: CommitScheduler | None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.registry = registry
        self.scheduler = scheduler
        self.selection = settings.selection
        self.static = static_clusters(settings)
        self.secrets = RemoteSecrets(self.selection, settings)
        self.watches: dict[str, ClusterWatch] = {}  # the watch serving each cluster
        self.tasks: dict[str, asyncio.Task[None]] = {}  # theirs (none for a retired one)
        # New connections (changed Secrets) being made beside the serving ones.
        self.candidates: dict[str, tuple[ClusterWatch, asyncio.Task[None]]] = {}
        self.remote: dict[str, tuple[str, str]] = {}
        self.refused: dict[str, tuple[str, str]] = {}  # clusters whose Secret was refused
        self.outbox: Changes | None = None
        self.held: dict[str, Held] = {}  # what a previous watch process served, by cluster
        self.lists = asyncio.Semaphore(LISTS_AT_ONCE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    # -- serving-loop side ---------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self.sink is not None and self.scheduler is not None
        guard_logs()
        self.outbox = Outbox(self.sink, self.registry, loop, self.scheduler)
        self._thread = threading.Thread(target=self._run, name="globaldns-kubernetes", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def stop(self, timeout: float = 5.0) -> None:
        if self._loop is None or self._stopping is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self.end)
        self._thread.join(timeout)

    def end(self) -> None:
        """From the watches' own loop: stop them; `run` or the thread then returns."""
        if self._stopping is not None:
            self._stopping.set()

    def anchors(self) -> frozenset[str]:
        return anchors(self.settings, self.static)

    def remotes_known(self) -> bool:
        """The remote Secrets were listed once (or there is no local cluster to hold them)."""
        return self.secrets.current or self.settings.local_cluster not in self.static

    def settled(self) -> bool:
        """Every cluster known so far finished its first sync or was given up on."""
        if self.outbox is None or not self.outbox.idle():
            return False
        watches = list(self.watches.values())
        return (
            bool(watches)
            and self.remotes_known()
            and all(w.synced_once or w.state in (State.GAVE_UP, State.MISSING) for w in watches)
        )

    def internal_errors(self) -> int:
        """Bugs caught and counted: objects a strip failed on (hand-offs that raised are the
        commit scheduler's count)."""
        return sum(w.bugs for w in self.watches.values())

    # -- watch-thread side ---------------------------------------------------------------------
    async def run(self, outbox: Changes, held: dict[str, Held]) -> None:
        """Watch on the running loop (the watch process's), telling `outbox`, until `stop()`;
        `held`: what a previous watch process served, resumed cluster by cluster."""
        guard_logs()
        self.outbox, self.held = outbox, held
        self._loop = asyncio.get_running_loop()
        await self._main()

    def _run(self) -> None:
        loop = runtime.watch_loop()
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
            self._add(name, make_client, None if is_remote(name, local) else self.secrets)
        following = asyncio.create_task(self._follow_secrets())
        await self._stopping.wait()
        following.cancel()
        tasks = [*self.tasks.values(), *(task for _, task in self.candidates.values())]
        for name in [*self.watches, *self.candidates]:
            self._remove(name, drop=False)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _add(self, name: str, make_client: MakeClient, secrets: RemoteSecrets | None) -> None:
        self._start(name, make_client, secrets)
        log.info("cluster %s: watching", name, extra={"cluster": name})

    def _start(
        self,
        name: str,
        make_client: MakeClient,
        secrets: RemoteSecrets | None,
        replacing: bool = False,
    ) -> None:
        assert self.outbox is not None
        watch = ClusterWatch(
            name,
            make_client,
            self.settings,
            self.selection,
            self.outbox,
            self.lists,
            secrets,
            replacing=self._replace if replacing else None,
        )
        watch.forgotten = self._forgotten
        held = None if replacing else self.held.pop(name, None)
        if held is not None:
            watch.resume(held)
        task = asyncio.create_task(watch.run(), name=f"cluster {name}")
        if replacing:
            self.candidates[name] = (watch, task)
        else:
            self.watches[name] = watch
            self.tasks[name] = task

    def _remove(self, name: str, drop: bool = True) -> None:
        """Stop the cluster's watches; nothing it does after this reaches the table."""
        self._drop_candidate(name)
        watch = self.watches.pop(name, None)
        if watch is not None:
            watch.close()
        task = self.tasks.pop(name, None)
        if task is not None:
            task.cancel()
        if drop and self.outbox is not None:
            self.outbox.drop_cluster(name, forget=True)
            log.info("cluster %s: removed", name, extra={"cluster": name})

    def _drop_candidate(self, name: str) -> None:
        """A new connection that has not synced is given up: its Secret changed or went."""
        candidate = self.candidates.pop(name, None)
        if candidate is not None:
            candidate[0].close()
            candidate[1].cancel()
            if self.outbox is not None:
                self.outbox.set_next(name, None)

    def _connect(self, name: str, make_client: MakeClient, secret: str) -> None:
        """A cluster's (new) kubeconfig: a cluster whose data serves keeps serving it until
        the new connection has synced (make-before-break); any other starts afresh."""
        serving = self.watches.get(name)
        if serving is None or not serving.synced_once:
            if serving is not None:
                self._remove(name, drop=False)
            self._add(name, make_client, None)
            return
        self._drop_candidate(name)
        self._start(name, make_client, None, replacing=True)
        log.info(
            "cluster %s: Secret %s changed: connecting anew; the old data serves until the new "
            "connection has synced", name, secret, extra={"cluster": name},
        )  # fmt: skip

    def _replace(self, new: ClusterWatch) -> None:
        """A new connection synced: it replaces the serving one, its data in one commit."""
        name = new.name
        old = self.watches.get(name)
        candidate = self.candidates.pop(name, None)
        if old is not None:
            old.close()
            task = self.tasks.pop(name, None)
            if task is not None:
                task.cancel()
        new.adopt(old)
        self.watches[name] = new
        if candidate is not None:
            self.tasks[name] = candidate[1]
        assert self.outbox is not None
        self.outbox.set_next(name, None)
        log.info(
            "cluster %s: the new connection synced and replaces the old one",
            name,
            extra={"cluster": name},
        )

    def _retire(self, name: str) -> None:
        """A removed Secret: its cluster's data goes through the stale rules, not away at once
        (a deleted Secret is not an outage, and its data was right a moment ago)."""
        self._drop_candidate(name)
        watch = self.watches.get(name)
        if watch is None or not watch.synced_once or watch.state == State.GONE:
            self._remove(name)  # nothing of it serves
            return
        task = self.tasks.pop(name, None)
        if task is not None:
            task.cancel()
        log.info(
            "cluster %s: its remote Secret was removed: its data serves for --serve-stale (%gs)",
            name,
            self.settings.serve_stale,
            extra={"cluster": name},
        )
        watch.retire()

    def _forgotten(self, name: str) -> None:
        """A retired cluster's stale window ended: it is gone from the table and /table. A new
        connection still trying (its Secret came back) is now the cluster's own."""
        watch = self.watches.get(name)
        if watch is None or not watch.retired:
            return
        del self.watches[name]
        candidate = self.candidates.pop(name, None)
        if candidate is not None:
            new, task = candidate
            new.adopt(None)
            self.watches[name], self.tasks[name] = new, task
            new.report()

    async def _follow_secrets(self) -> None:
        while True:
            await self.secrets.changed.wait()
            self.secrets.changed.clear()
            self.set_remote_clusters(self.secrets.wanted())
            self.registry.duplicate_secrets = len(self.secrets.duplicates)

    def set_remote_clusters(self, wanted: dict[str, tuple[str, str]]) -> None:
        """Start, reconnect (new kubeconfig) or retire remote clusters to match the Secrets.

        A kubeconfig is checked on the allowlist before any client exists. A refused one makes
        no client; a cluster it served goes through the stale rules as if its Secret were
        removed (a bad Secret takes no answer away at once), shown as refused until its Secret
        changes.
        """
        assert self.outbox is not None
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
            if self.refused.pop(name, None) is not None:
                self.outbox.unrefuse(name)
            self.remote[name] = (secret, encoded)
            self._connect(name, from_remote_secret(accepted), secret)
        for name in [n for n in self.remote if n not in wanted]:
            del self.remote[name]
            self._retire(name)
        for name in [n for n in self.refused if n not in wanted]:
            del self.refused[name]
            self.outbox.unrefuse(name)
        for name in list(self.held):  # served by a previous watch process, now unwanted
            del self.held[name]
            self.outbox.drop_cluster(name, forget=True)

    def _refuse(self, name: str, secret: str, encoded: str, err: RemoteKubeconfigRefused) -> None:
        assert self.outbox is not None
        log.error(
            "cluster %s: Secret %s key %s refused: %s; no client is made for it",
            name, secret, name, err, extra={"cluster": name},
        )  # fmt: skip
        if self.remote.pop(name, None) is not None:
            self._retire(name)
        self.refused[name] = (secret, encoded)
        self.outbox.refuse(name, f"Secret {secret} key {name}: {err}", err.reason.value)


def static_clusters(settings: KubeSettings) -> dict[str, MakeClient]:
    """Read at start so that a bad kubeconfig or context stops the server with a message."""
    if settings.kubeconfig is None:
        return {settings.local_cluster or IN_CLUSTER_NAME: in_cluster()}
    document = load_kubeconfig(settings.kubeconfig)
    names = contexts(document, settings.contexts, str(settings.kubeconfig))
    if not names:
        raise KubeconfigError(
            f"{settings.kubeconfig}: the kubeconfig has no contexts; {KUBECONFIG_FIX}"
        )
    return {name: from_kubeconfig(document, name) for name in names}


def anchors(settings: KubeSettings, static: Collection[str]) -> frozenset[str]:
    """The clusters whose first sync lets the table answer: the local cluster, or (with none
    named) any cluster of the kubeconfig; never a cluster from a remote Secret."""
    local = settings.local_cluster
    if local is not None and local in static:
        return frozenset({local})
    return frozenset(static)


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
