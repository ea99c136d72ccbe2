"""The table's long-lived objects are kept out of the garbage collector's full scans."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from subprocess import PIPE

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


def test_the_watch_loop_holds_small_tls_buffers_and_runs_exec_plugins() -> None:
    """The watches' loop reads TLS 16 KiB at a time (uvloop keeps 256 KiB per connection, 1,200
    connections at 200 clusters), and runs a subprocess (a kubeconfig's exec plugin) under the
    policy `configure` set, on a thread as in `--watch-process off`."""
    from asyncio import sslproto

    from globaldns.runtime import TLS_READ_BUFFER, configure, watch_loop

    async def run_plugin() -> bytes:
        process = await asyncio.create_subprocess_exec("echo", "token", stdout=PIPE)
        out, _ = await process.communicate()
        return out

    result: list[bytes] = []

    def watch_thread() -> None:
        loop = watch_loop()
        try:
            result.append(loop.run_until_complete(run_plugin()))
        finally:
            loop.close()

    configure()
    try:
        thread = threading.Thread(target=watch_thread)
        thread.start()
        thread.join(30)
    finally:
        asyncio.set_event_loop_policy(None)
    assert result == [b"token\n"]
    assert sslproto.SSLProtocol.max_size == TLS_READ_BUFFER == 16 * 1024


def test_the_standard_library_still_sizes_a_tls_read_buffer_by_the_attribute_we_set() -> None:
    """`SSLProtocol.max_size` is not documented: if a later Python stops reading it, the watches'
    connections would each hold its default again (1,200 of them at 200 clusters)."""
    import ssl
    from asyncio import sslproto

    from globaldns.runtime import TLS_READ_BUFFER, watch_loop

    loop = watch_loop()
    try:
        waiter = loop.create_future()
        made = sslproto.SSLProtocol(loop, asyncio.Protocol(), ssl.create_default_context(), waiter)
        assert len(made._ssl_buffer) == TLS_READ_BUFFER
    finally:
        loop.close()
