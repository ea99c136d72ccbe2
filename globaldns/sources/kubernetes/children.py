"""Watch processes as the serving process sees them: a pid, a pipe each way, an exit status.

The first is forked from the serving process before it serves (no socket, no thread yet; every
module imported, so its first sync starts at once, where a fresh interpreter spends seconds
importing the Kubernetes client). The ones replacing it are spawned afresh, `python -m
globaldns.sources.kubernetes` (the serving process has threads and a table by then: a
fork would copy both). Either way this side reads frames from one pipe, writes orders to the
other, and learns of the exit through a pidfd, reaping the child itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import globaldns
from globaldns.sources.kubernetes import worker
from globaldns.sources.kubernetes.frames import Start

MODULE = "globaldns.sources.kubernetes"  # its __main__ runs `worker.main`


@dataclass(frozen=True)
class Pipes:
    """A child just made: its pid and this side's ends of its two pipes."""

    pid: int
    orders: int  # written here, its stdin
    reports: int  # read here, its frames
    forked: bool  # it has its Start already (and no held clusters): no orders to read


def fork(start: Start) -> Pipes:
    """The first watch process: a fork of this one (call before any thread or socket)."""
    orders_in, orders = os.pipe()
    reports, reports_out = os.pipe()
    # Out of the collector's sight in both: a collection in the child would write to every
    # object the two share (their imported modules), and copy its page (17 MiB of PSS).
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        worker.forked(start, orders_in, reports_out)  # never returns
    os.close(orders_in)
    os.close(reports_out)
    return Pipes(pid, orders, reports, forked=True)


def spawn() -> Pipes:
    """A replacement: a fresh interpreter running the worker module, on the same globaldns."""
    orders_in, orders = os.pipe()
    reports, reports_out = os.pipe()
    root = str(Path(globaldns.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}
    try:
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", MODULE],
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, orders_in, 0),
                (os.POSIX_SPAWN_DUP2, reports_out, 1),
            ],
        )
    finally:
        os.close(orders_in)
        os.close(reports_out)
    return Pipes(pid, orders, reports, forked=False)


class Child:
    """A running watch process, its pipes made streams on the serving loop."""

    def __init__(
        self,
        pipes: Pipes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        ended: asyncio.Future[int],
    ) -> None:
        self.pid = pipes.pid
        self.forked = pipes.forked
        self.reader = reader
        self.writer = writer
        self.ended = ended  # its exit status, as subprocess gives it (-9: SIGKILL)

    def kill(self) -> None:
        if not self.ended.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        self.writer.close()


async def attach(pipes: Pipes) -> Child:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 21)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(pipes.reports, "rb", 0)
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(pipes.orders, "wb", 0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    ended: asyncio.Future[int] = loop.create_future()
    pidfd = os.pidfd_open(pipes.pid)

    def reap() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pipes.pid, 0)
        ended.set_result(os.waitstatus_to_exitcode(status))

    loop.add_reader(pidfd, reap)
    return Child(pipes, reader, writer, ended)
