"""Process-wide runtime settings: the event loop, the GIL's switch interval and the garbage
collector's policy, set once by `app` when a command starts.

A leaf (the standard library and uvloop only), so the layers below `app` may use its garbage
collector helpers without reaching up: the table's commit scheduler settles the heap between
turns, the mesh source pauses the collector around a parse. Only `app` calls `configure`.

Why the collector needs a policy: the table holds millions of long-lived objects, and a full
collection scans them all (0.85 s at 50 clusters x 1,000 services, seconds at 200) while no
query is answered. Compiled answers are freed by reference counting when replaced and form no
cycles, so the young generations are collected now and then and everything that survived is
moved out of the collector's sight (`gc.freeze`): a later full collection only scans what came
since.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from asyncio import sslproto
from collections.abc import Callable, Iterator

# Worker threads (the Kubernetes watch thread decoding JSON, the mesh reload's parser, the
# writers of /metrics and /table) hand the GIL, and so the serving loop, back every half
# millisecond rather than every 5 ms, so a query never waits long behind them.
SWITCH_INTERVAL = 0.0005
# Bytes of TLS read per call on the watches' connections: one TLS record's plaintext at most,
# so no read takes an extra turn for it. Each connection keeps its buffer for its life.
TLS_READ_BUFFER = 16 * 1024


def configure() -> bool:
    """Set the process's runtime once, before any loop is made; True when uvloop is the loop
    (every loop made after is one, but the Kubernetes watches' own: `watch_loop`)."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        import uvloop
    except ImportError:
        return False

    asyncio.set_event_loop_policy(_UvloopPolicy(uvloop.new_event_loop))
    return True


class _UvloopPolicy(asyncio.DefaultEventLoopPolicy):
    """The standard library's policy making uvloop's loops: its child watcher, which uvloop's
    policy lacks, is what the watches' loop (`watch_loop`) needs in Python 3.11 to run a
    kubeconfig's exec plugin (uvloop's loops run subprocesses without one)."""

    def __init__(self, make: Callable[[], asyncio.AbstractEventLoop]) -> None:
        super().__init__()
        self._make = make

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return self._make()


def watch_loop() -> asyncio.AbstractEventLoop:
    """The loop the Kubernetes watches run on: the standard library's, reading TLS in
    TLS_READ_BUFFER bytes (it applies to every loop of the standard library's in the process;
    the serving loop is uvloop's where `configure` chose it).

    Why not uvloop: it gives each TLS connection a 256 KiB read buffer, as the standard
    library's default does, for the connection's life, and the watches hold one connection per
    resource and cluster (1,200 at 200 clusters): 217 MiB more resident at 200 x 1,000 than
    this loop, which costs some 2 CPU s more in that first sync (24-25 s against 22-23).
    """
    sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
    return asyncio.SelectorEventLoop()


async def keep_frozen(interval: float = 1.0) -> None:
    """Every `interval`, collect the young generations and freeze what survived.

    While collection is paused (`collector_paused`), the young generations hold that parse's
    objects: collecting them would hold the GIL, and so DNS, for as long as it takes, so that
    turn is skipped.
    """
    while True:
        await asyncio.sleep(interval)
        if not gc.isenabled():
            continue
        gc.collect(1)
        gc.freeze()


def settle() -> None:
    """Between turns of heavy compiling: collect the youngest generation, freeze what survived.

    A reload compiles for seconds; left to itself the collector would run full collections
    over everything that compiling made since the last `keep_frozen` turn, each one a pause of
    a hundred milliseconds or more (500 ms at 20,000 services). This keeps each one tiny.
    Skipped while collection is paused, as `keep_frozen` is.
    """
    if gc.isenabled():
        gc.collect(0)
        gc.freeze()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No collection inside (for a worker thread making a million short-lived objects).

    The full collections they would trigger run while that thread holds the GIL, holding DNS
    answers up for as long (1.2 s for a mesh file of 5,000 services). Reference counting frees
    them anyway; what survives is frozen before collection resumes, or the first allocation
    after would scan it all at once.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
