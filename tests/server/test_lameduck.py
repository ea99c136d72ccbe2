"""SPEC §5: on SIGTERM `/ready` fails at once, DNS answers for `--lameduck` seconds, then the
process exits 0."""

from __future__ import annotations

import signal
import time

import dns.exception

from harness import GlobalDns, addresses, wait_for
from harness.meshes import MESH

LAMEDUCK = 1.5


def test_after_sigterm_ready_fails_dns_answers_through_the_lameduck_then_exit_0() -> None:
    server = GlobalDns(MESH, args=["--lameduck", str(LAMEDUCK)]).start()
    try:
        wait_for(lambda: server.http("/ready")[0] == 200, 5, what="ready")
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        wait_for(lambda: server.http("/ready")[0] == 503, 0.3, 0.01, "/ready to fail at once")
        answered_until = signalled
        while time.monotonic() - signalled < LAMEDUCK + 3:
            try:
                if addresses(server.ask("foo.global", timeout=0.2)) == ["10.0.0.1"]:
                    answered_until = time.monotonic()
            except (dns.exception.Timeout, ConnectionRefusedError):
                break
            time.sleep(0.05)
        assert answered_until - signalled >= LAMEDUCK - 0.2
        assert server.process.wait(5) == 0
        assert time.monotonic() - signalled >= LAMEDUCK
    finally:
        server.stop()


def test_without_lameduck_sigterm_exits_at_once_with_0() -> None:
    server = GlobalDns(MESH).start()
    try:
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert server.process.wait(5) == 0
        assert time.monotonic() - started < 1.0
    finally:
        server.stop()


def test_a_second_sigterm_ends_the_lameduck() -> None:
    server = GlobalDns(MESH, args=["--lameduck", "30"]).start()
    try:
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: server.http("/ready")[0] == 503, 3, what="lameduck")
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(5) == 0
    finally:
        server.stop()
