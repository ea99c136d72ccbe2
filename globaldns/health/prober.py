"""TCP probes of every remote gateway address the table may answer with, on the serving loop.

Addresses are spread over `SLOTS` ticks per interval; each tick starts the connects of its slot
(each bounded by `timeout`), so every address is probed once per interval, hundreds of addresses
never connect in one burst, and the loop wakes a few times per interval rather than once per
address. A connect is a few socket calls driven by loop callbacks, closed with a reset. A cap
bounds the connects in flight, and an address still being probed is not probed again.

Targets are read from the table every interval (what the sources put there), and results go
back into it only when an address changes between up and down, so answers are recompiled then
and never per probe.
"""

from __future__ import annotations

import asyncio
import bisect
import errno
import ipaddress
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from globaldns.health.counting import Count, Outcome, step
from globaldns.health.options import ProbeSettings
from globaldns.table.model import Cluster, GatewayHealth, TableSink, is_remote
from globaldns.table.scheduler import CommitScheduler
from globaldns.table.sites import Site

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 256  # connects at once; more wait for their next turn
SLOTS = 8  # ticks per interval
PER_TURN = 8  # connects started in one loop turn (about 0.3 ms of work)
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ProbedTable(TableSink, Protocol):
    """What the prober reads (the clusters the sources put) besides what it writes."""

    @property
    def clusters(self) -> Mapping[str, Cluster]: ...

    @property
    def local(self) -> str | None: ...

    @property
    def sites(self) -> Mapping[str, Site]:
        """Each cluster's gateways as the table judges them (the only judgement)."""


@dataclass(frozen=True, slots=True)
class Target:
    cluster: str
    address: str
    port: int

    @property
    def family(self) -> socket.AddressFamily:
        v6 = ipaddress.ip_address(self.address).version == 6
        return socket.AF_INET6 if v6 else socket.AF_INET


def targets(clusters: Iterable[Cluster], local: str | None, settings: ProbeSettings) -> set[Target]:
    """Every gateway address of every remote cluster that has a probe port."""
    found: set[Target] = set()
    for cluster in clusters:
        port = settings.port_for(cluster.probe_port)
        if not is_remote(cluster.name, local) or port is None:
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


class Connect:
    """One TCP connect in flight, driven by loop callbacks (no task, no coroutine: probing
    hundreds of addresses costs what the sockets cost, not what asyncio's machinery does)."""

    __slots__ = ("done", "loop", "sock", "started", "timer")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        target: Target,
        family: socket.AddressFamily,
        timeout: float,
        done: Callable[[Outcome, float], None],
    ) -> None:
        self.loop = loop
        self.done: Callable[[Outcome, float], None] | None = done
        self.started = time.perf_counter()
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        # Closed with a reset: no FIN exchange, no TIME_WAIT, for either side.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        self.timer: asyncio.TimerHandle | None = None
        error = self.sock.connect_ex((target.address, target.port))
        if error == errno.EINPROGRESS:
            loop.add_writer(self.sock.fileno(), self._writable)
            self.timer = loop.call_later(timeout, self._finish, Outcome.TIMED_OUT)
        else:
            loop.call_soon(self._finish, _outcome(error))

    def _writable(self) -> None:
        self._finish(_outcome(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)))

    def _finish(self, outcome: Outcome) -> None:
        done, self.done = self.done, None
        if done is None:
            return  # cancelled
        self._close()
        done(outcome, time.perf_counter() - self.started)

    def cancel(self) -> None:
        """Nothing is reported for a connect cancelled before it finished."""
        if self.done is not None:
            self.done = None
            self._close()

    def _close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.loop.remove_writer(self.sock.fileno())
        self.sock.close()


_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s


def _outcome(error: int) -> Outcome:
    if error == 0:
        return Outcome.CONNECTED
    if error == errno.ECONNREFUSED:
        return Outcome.REFUSED
    if error == errno.ETIMEDOUT:
        return Outcome.TIMED_OUT
    return Outcome.UNREACHABLE


class Prober:
    """`run()` until cancelled; `counts` and `durations` are what the collector exports."""

    def __init__(
        self, table: ProbedTable, settings: ProbeSettings, scheduler: CommitScheduler | None = None
    ) -> None:
        """`scheduler` commits what the prober writes, in turns (the table's own in `app`)."""
        self.table = table
        self.scheduler = scheduler or CommitScheduler(table)
        self.settings = settings
        self.counts: dict[tuple[str, str], Count] = {}  # (cluster, address) ->
        self.durations = Histogram()
        self._slots: list[list[Target]] = [[] for _ in range(SLOTS)]
        self._families: dict[Target, socket.AddressFamily] = {}  # the targets, parsed once
        self._in_flight: dict[Target, Connect] = {}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = self.settings.interval / SLOTS
        due = loop.time()
        try:
            while True:
                self._follow(targets(self.table.clusters.values(), self.table.local, self.settings))
                for slot in self._slots:
                    for started, target in enumerate(slot, start=1):
                        if target not in self._in_flight and len(self._in_flight) < MAX_IN_FLIGHT:
                            self._start(loop, target, partial(self._count, target))
                        if started % PER_TURN == 0:
                            await asyncio.sleep(0)  # queries waiting are answered first
                    due = max(due + tick, loop.time())
                    await asyncio.sleep(due - loop.time())
        finally:
            for connect in self._in_flight.values():
                connect.cancel()
            self._in_flight.clear()

    def gateways(self) -> Iterator[tuple[str, str, bool]]:
        """(cluster, address, up) of every remote gateway address, as the table judges it
        (probes, and the gateway Service's readiness) and so the answers count it."""
        local = self.table.local
        for judged in self.table.sites.values():
            if is_remote(judged.name, local):
                for gateway in judged.gateways:
                    yield judged.name, gateway.address, gateway.up

    def _follow(self, wanted: set[Target]) -> None:
        """Start probing new targets (in the emptiest slot), forget the ones that left."""
        gone = [t for t in self._families if t not in wanted]
        for target in gone:
            del self._families[target]
            connect = self._in_flight.pop(target, None)
            if connect is not None:
                connect.cancel()
            count = self.counts.pop((target.cluster, target.address), None)
            if count is not None and count.since:
                self._tell(target, None)
        if gone:
            for slot in self._slots:
                slot[:] = [t for t in slot if t in wanted]
        for target in wanted - self._families.keys():
            self._families[target] = target.family
            min(self._slots, key=len).append(target)

    def _start(
        self, loop: asyncio.AbstractEventLoop, target: Target, then: Callable[[Outcome], None]
    ) -> None:
        def done(outcome: Outcome, took: float) -> None:
            self._in_flight.pop(target, None)
            self.durations.observe(took)
            then(outcome)

        family = self._families.get(target) or target.family
        try:
            self._in_flight[target] = Connect(loop, target, family, self.settings.timeout, done)
        except OSError as err:  # no socket to be had (too many open files): a failed probe
            log.warning("gateway %s:%d: cannot probe: %s", target.address, target.port, err)
            loop.call_soon(done, Outcome.UNREACHABLE, 0.0)

    def _count(self, target: Target, outcome: Outcome) -> None:
        key = (target.cluster, target.address)
        count, changed = step(self.counts.get(key, Count()), outcome, time.time())
        self.counts[key] = count
        if changed:
            log.log(
                logging.INFO if count.up else logging.WARNING,
                "cluster %s: gateway %s:%d %s%s",
                target.cluster, target.address, target.port,
                "up" if count.up else "down", "" if count.up else f" ({count.error})",
                extra={"cluster": target.cluster, "address": target.address},
            )  # fmt: skip
            self._tell(target, GatewayHealth(count.up, count.since, count.error))

    def _tell(self, target: Target, health: GatewayHealth | None) -> None:
        self.table.put_gateway_health(target.cluster, target.address, health)
        self.scheduler.soon()
