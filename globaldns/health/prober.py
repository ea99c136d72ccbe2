"""TCP probes of every remote gateway address the table may answer with, on the serving loop.

Each address has its own task: a connect every `interval`, bounded by `timeout`, at a phase
spread over the interval so that hundreds of addresses never connect in one burst. A semaphore
bounds the connects in flight. Targets are read from the table every interval (what the sources
put there), and results go back into it only when an address changes between up and down, so
answers are recompiled then and never per probe. Nothing here runs on the DNS path: a probe is
a few socket calls between queries.
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import logging
import random
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from globaldns.health.counting import Count, Outcome, step
from globaldns.health.options import ProbeSettings
from globaldns.table.model import Cluster, GatewayHealth, TableSink

log = logging.getLogger(__name__)

CONCURRENT_PROBES = 64
COMMIT_BUDGET = 0.002  # seconds of compiling per loop turn after a change
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ProbedTable(TableSink, Protocol):
    """What the prober reads (the clusters the sources put) besides what it writes."""

    @property
    def clusters(self) -> Mapping[str, Cluster]: ...

    @property
    def local(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Target:
    cluster: str
    address: str
    port: int


def targets(clusters: Iterable[Cluster], local: str | None, settings: ProbeSettings) -> set[Target]:
    """Every gateway address of every remote cluster that has a probe port."""
    found: set[Target] = set()
    for cluster in clusters:
        port = settings.port_for(cluster.probe_port)
        if cluster.name == local or port is None:
            continue
        found.update(Target(cluster.name, address, port) for address in cluster.gateways)
    return found


class Histogram:
    """Probe durations as plain counts; the collector turns them into a family at scrape time."""

    def __init__(self, buckets: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value


class Committer:
    """Budgeted commits on the loop after a change, so a big cluster never stalls answers."""

    def __init__(self, sink: TableSink, loop: asyncio.AbstractEventLoop) -> None:
        self._sink = sink
        self._loop = loop
        self._scheduled = False

    def soon(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._commit)

    def _commit(self) -> None:
        self._scheduled = False
        if not self._sink.commit(COMMIT_BUDGET):
            self.soon()


class Prober:
    """`run()` until cancelled; `counts` and `durations` are what the collector exports."""

    def __init__(self, table: ProbedTable, settings: ProbeSettings) -> None:
        self.table = table
        self.settings = settings
        self.counts: dict[tuple[str, str], Count] = {}  # (cluster, address) ->
        self.durations = Histogram()
        self._tasks: dict[Target, asyncio.Task[None]] = {}
        self._limit = asyncio.Semaphore(CONCURRENT_PROBES)
        self._committer: Committer | None = None

    async def run(self) -> None:
        self._committer = Committer(self.table, asyncio.get_running_loop())
        try:
            while True:
                self._follow(targets(self.table.clusters.values(), self.table.local, self.settings))
                await asyncio.sleep(self.settings.interval)
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def gateways(self) -> Iterator[tuple[str, str, bool]]:
        """(cluster, address, up) of every remote gateway address, as the answers count it."""
        for cluster in self.table.clusters.values():
            if cluster.name == self.table.local:
                continue
            for address in cluster.gateways:
                count = self.counts.get((cluster.name, address))
                yield cluster.name, address, cluster.gateway_ready and (count is None or count.up)

    def _follow(self, wanted: set[Target]) -> None:
        for target in [t for t in self._tasks if t not in wanted]:
            self._tasks.pop(target).cancel()
            count = self.counts.pop((target.cluster, target.address), None)
            if count is not None and count.since:
                self._tell(target, None)
        for target in wanted - self._tasks.keys():
            phase = random.uniform(0, self.settings.interval)
            self._tasks[target] = asyncio.create_task(
                self._probe_forever(target, phase), name=f"probe {target.address}"
            )

    async def _probe_forever(self, target: Target, phase: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(phase)
        due = loop.time()
        while True:
            outcome = await self.probe(target)
            key = (target.cluster, target.address)
            count, changed = step(self.counts.get(key, Count()), outcome, time.time())
            self.counts[key] = count
            if changed:
                log.log(
                    logging.INFO if count.up else logging.WARNING,
                    "cluster %s: gateway %s:%d %s%s",
                    target.cluster, target.address, target.port,
                    "up" if count.up else "down", "" if count.up else f" ({count.error})",
                )  # fmt: skip
                self._tell(target, GatewayHealth(count.up, count.since, count.error))
            due = max(due + self.settings.interval, loop.time())
            await asyncio.sleep(due - loop.time())

    async def probe(self, target: Target) -> Outcome:
        """One TCP connect, closed at once; its duration goes into the histogram."""
        loop = asyncio.get_running_loop()
        v6 = ipaddress.ip_address(target.address).version == 6
        async with self._limit:
            started = time.perf_counter()
            sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                async with asyncio.timeout(self.settings.timeout):
                    await loop.sock_connect(sock, (target.address, target.port))
                outcome = Outcome.CONNECTED
            except ConnectionRefusedError:
                outcome = Outcome.REFUSED
            except TimeoutError:
                outcome = Outcome.TIMED_OUT
            except OSError:
                outcome = Outcome.UNREACHABLE
            finally:
                sock.close()
            self.durations.observe(time.perf_counter() - started)
        return outcome

    def _tell(self, target: Target, health: GatewayHealth | None) -> None:
        self.table.put_gateway_health(target.cluster, target.address, health)
        assert self._committer is not None  # set before any task starts
        self._committer.soon()
