"""Start a test server on either UDP loop, so socket tests cover the compiled and the pure one."""

from __future__ import annotations

import os

import pytest

from globaldns.server.dns import PURE_PYTHON_ENV, compiled_udp
from harness import GlobalDns

UDP_LOOPS = ["compiled", "pure"]
LOG_LINES = {"compiled": "compiled UDP loop", "pure": "pure-Python UDP loop"}


def start(server: GlobalDns, loop: str) -> GlobalDns:
    """`server.start()` with `loop` forced; skips the compiled loop where it is not built."""
    if loop == "compiled" and compiled_udp() is None:
        pytest.skip("the compiled UDP loop is not built (python setup.py build_ext --inplace)")
    saved = os.environ.get(PURE_PYTHON_ENV)
    os.environ[PURE_PYTHON_ENV] = "1" if loop == "pure" else "0"
    try:
        server.start()
    finally:
        if saved is None:
            del os.environ[PURE_PYTHON_ENV]
        else:
            os.environ[PURE_PYTHON_ENV] = saved
    if LOG_LINES[loop] not in server.logs():
        server.stop()
        raise AssertionError(f"the server did not start the {loop} UDP loop:\n{server.logs()}")
    return server
