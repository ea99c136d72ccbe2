"""`globaldns serve` as a real process for tests and benches, and the waits and ports it needs."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dns.message
import yaml

from harness.dns_client import ask

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port free for UDP and TCP on every address, IPv4 and IPv6 alike.

    Drawn below the kernel's ephemeral range, so no connection a process opens meanwhile
    (a client, a probe, a watch) takes it before the server binds it; never the same one
    twice in a run. Checked with dual-stack sockets on `[::]`, so a server may listen on
    127.0.0.1, ::1 or `[::]` with it.
    """
    while True:
        port = _PORTS.randrange(_FIRST_PORT, _ephemeral_start())
        if port in _HANDED_OUT:
            continue
        with (
            socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as tcp,
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp,
        ):
            try:
                for sock in (tcp, udp):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                    sock.bind(("::", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


_FIRST_PORT = 20000
_PORTS = random.Random(os.getpid())
_HANDED_OUT: set[int] = set()


def _ephemeral_start() -> int:
    """The first port the kernel picks for outgoing connections (32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def wait_for(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll until `predicate()` is truthy; return its value or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class GlobalDns:
    """`globaldns serve` as a real process on free ports, on a mesh file it owns."""

    def __init__(self, mesh: dict[str, Any] | None = None, args: Sequence[str] = ()) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="globaldns-test-"))
        self.mesh_path = self.dir / "mesh.yaml"
        if mesh is not None:
            self.write_mesh(mesh)
        self.port = free_port()
        self.listen_host = "127.0.0.1"  # `[::]` for a dual-stack server
        self.admin_host = "127.0.0.1"  # `::1` for an IPv6 admin port
        self.admin_port = free_port()
        self.log_path = self.dir / "server.log"
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None

    def write_mesh(self, mesh: dict[str, Any] | str) -> None:
        """Replace the file atomically, as an editor or a ConfigMap update does."""
        text = mesh if isinstance(mesh, str) else yaml.safe_dump(mesh, sort_keys=False)
        tmp = self.dir / "mesh.yaml.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.mesh_path)

    def start(self, timeout: float = 15) -> GlobalDns:
        command = [
            sys.executable,
            "-m",
            "globaldns",
            "serve",
            "--listen",
            f"{self.listen_host}:{self.port}",
            "--admin",
            self.admin_address,
            *(["--mesh", str(self.mesh_path)] if self.mesh_path.exists() else []),
            *self.args,
        ]
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO
        )
        wait_for(self._healthy, timeout, 0.05, "globaldns to answer /health")
        return self

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"globaldns exited early:\n{self.logs()}")
        try:
            return self.http("/health")[0] == 200
        except OSError:
            return False

    @property
    def admin_address(self) -> str:
        host = f"[{self.admin_host}]" if ":" in self.admin_host else self.admin_host
        return f"{host}:{self.admin_port}"

    def http(self, path: str) -> tuple[int, str]:
        url = f"http://{self.admin_address}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def metric(self, name: str) -> float:
        for line in self.http("/metrics")[1].splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(name)

    def reload(self, mesh: dict[str, Any] | str) -> None:
        """Write a new mesh file and wait until the server has applied it."""
        before = self.metric("globaldns_table_reloads_total")
        self.write_mesh(mesh)
        wait_for(
            lambda: self.metric("globaldns_table_reloads_total") > before, 5, what="the reload"
        )

    def ask(self, name: str, rdtype: str = "A", **kwargs) -> dns.message.Message:  # type: ignore[no-untyped-def]
        return ask(self.port, name, rdtype, **kwargs)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
