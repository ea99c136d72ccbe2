"""The table's long-lived objects are kept out of the garbage collector's full scans."""

from __future__ import annotations

import asyncio
import contextlib
import gc

from globaldns.runtime import keep_frozen


def test_long_lived_objects_are_frozen_out_of_full_collections() -> None:
    async def run_briefly() -> None:
        task = asyncio.create_task(keep_frozen(interval=0.01))
        await asyncio.sleep(0.1)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    gc.unfreeze()
    survivors = [[i] for i in range(10_000)]  # tracked objects, as compiled answers are
    asyncio.run(run_briefly())
    try:
        assert gc.get_freeze_count() >= len(survivors)
    finally:
        gc.unfreeze()
