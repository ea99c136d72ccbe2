"""Keeps the garbage collector from pausing the server for seconds.

The table holds millions of long-lived objects, and a full collection scans them all: 0.85 s
at 50 clusters x 1,000 services, seconds at 200, during which no query is answered. Compiled
answers are freed by reference counting when replaced and form no cycles, so every `interval`
the young generations are collected and everything that survived is moved out of the
collector's sight (`gc.freeze`): a later full collection only scans what came since.

While collection is off (a mesh reload parsing in a worker thread, see `sources.mesh`), the
young generations hold that parse's objects: collecting them would hold the GIL, and so DNS,
for as long as it takes, so that turn is skipped.
"""

from __future__ import annotations

import asyncio
import gc


async def keep_frozen(interval: float = 1.0) -> None:
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
    """
    gc.collect(0)
    gc.freeze()
