"""The watch process: forked by the serving process at start, or `python -m
globaldns.sources.kubernetes` when it replaces one.

Every cluster's watches, their JSON and TLS, and the stripping and assembling of API objects
run here, on this process's own interpreter, so none of it holds the serving process's GIL.
What they say leaves on stdout as frames (`Relay`); the serving process (`supervisor`) applies
it to its table. Stdin brings, from the serving process (trusted: it started this one), the
settings, then what the table already holds (`Held`, resumed cluster by cluster), then `Begin`;
its end means the serving process is gone, and so this one ends. Logs go to stderr, shared with
the serving process; stdout carries frames only (a stray print goes to stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import sys
from typing import BinaryIO, NoReturn

from globaldns import logs, runtime
from globaldns.sources.kubernetes.frames import (
    Begin,
    FrameError,
    Held,
    Start,
    decode_orders,
    read_frame_from,
)
from globaldns.sources.kubernetes.options import KubeSettings
from globaldns.sources.kubernetes.relay import Relay
from globaldns.sources.kubernetes.source import KubernetesSource
from globaldns.sources.status import Registry

HEARTBEAT = 1.0  # seconds between heartbeats; the serving process's hang bound is several
# How much nicer than the serving process this one runs: where the two share a core (two
# cores, a CPU limit), the kernel runs a query's answer before another watch event's decode.
NICENESS = 10


def read_start(stream: BinaryIO) -> tuple[Start, dict[str, Held]]:
    """The settings, then the held clusters until `Begin` (a large one comes in parts)."""
    first = read_frame_from(stream)
    if first is None:
        raise FrameError("stdin ended before the settings")
    start: Start = pickle.loads(first)  # written by our parent, never by a cluster
    held: dict[str, Held] = {}
    while True:
        payload = read_frame_from(stream)
        if payload is None:
            raise FrameError("stdin ended before Begin")
        for order in decode_orders(payload):
            if isinstance(order, Begin):
                return start, held
            known = held.setdefault(order.cluster, order)
            if known is not order:  # a further part of one cluster: its records join the first
                known.instances.update(order.instances)
                known.entries.update(order.entries)
                known.exports.update(order.exports)


async def watch(settings: KubeSettings, held: dict[str, Held], out: BinaryIO) -> None:
    """Run the source until stdin ends or SIGTERM, beating every HEARTBEAT seconds."""
    loop = asyncio.get_running_loop()
    relay = Relay(out, loop)
    source = KubernetesSource(settings, None, Registry(), None)
    loop.add_signal_handler(signal.SIGTERM, source.end)
    stdin = 0  # the orders pipe: its end means the serving process is gone

    def on_stdin() -> None:
        if not os.read(stdin, 4096):  # the serving process is gone
            loop.remove_reader(stdin)
            source.end()

    loop.add_reader(stdin, on_stdin)

    async def beat() -> None:
        while True:
            relay.heartbeat(
                source.internal_errors(), source.remotes_known(), len(source.secrets.duplicates)
            )
            await asyncio.sleep(HEARTBEAT)

    # What survives a second is frozen, as in the serving process: the records held for every
    # cluster would otherwise be scanned by every full collection.
    tasks = [asyncio.create_task(beat()), asyncio.create_task(runtime.keep_frozen())]
    try:
        await source.run(relay, held)
    finally:
        for task in tasks:
            task.cancel()
        relay.flush()


def run(start: Start, held: dict[str, Held], out: BinaryIO) -> int:
    os.nice(NICENESS)
    logs.configure(start.logs.level, start.logs.format)
    runtime.configure()
    # BrokenPipeError: the serving process went away mid-write.
    with contextlib.suppress(BrokenPipeError), asyncio.Runner(loop_factory=runtime.watch_loop) as r:
        r.run(watch(start.settings, held, out))
    return 0


def forked(start: Start, orders: int, reports: int) -> NoReturn:
    """In a child forked from the serving process before it serves (no thread, no socket yet;
    its modules already imported, so the first sync starts at once): `orders` becomes stdin,
    `reports` the frames' own; every other descriptor is closed."""
    code = 1
    try:
        os.dup2(orders, 0)
        out = os.dup(reports)
        os.closerange(3, out)
        os.closerange(out + 1, os.sysconf("SC_OPEN_MAX"))
        code = run(start, {}, os.fdopen(out, "wb"))
    finally:
        os._exit(code)  # never back into the serving process's loop


def main() -> int:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stdout is the frames' own
    start, held = read_start(sys.stdin.buffer)
    return run(start, held, out)
