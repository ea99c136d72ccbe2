"""Runs an `Emulator` on its own thread and event loop, for synchronous tests and tools."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from .control import ControlClient
from .emulator import Emulator

T = TypeVar("T")


class EmulatorThread:
    """`with EmulatorThread(Emulator([...])) as emu:`; `emu.control` drives it over HTTP."""

    def __init__(self, emulator: Emulator, timeout: float = 30.0) -> None:
        self.emulator = emulator
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="kube-emulator", daemon=True
        )
        self.control = ControlClient("http://127.0.0.1:0")

    def start(self) -> EmulatorThread:
        self.thread.start()
        self.run(self.emulator.start())
        self.control = ControlClient(self.emulator.control_url)
        return self

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        self.run(self.emulator.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(self.timeout)
        self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the emulator's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(self.timeout)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the emulator's loop (store access is not thread-safe)."""

        async def invoke() -> T:
            return function(*args)

        return self.run(invoke())

    def write_kubeconfig(self, path: Path, names: list[str] | None = None) -> Path:
        return self.call(self.emulator.write_kubeconfig, path, names)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
