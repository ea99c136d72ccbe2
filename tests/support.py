"""Test-only helpers: raw UDP exchanges and an NSD serving the same zone (the reference).

The process runner and helpers benches use too live in `harness/`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import REPO, ask, free_port, wait_for


def exported_zone(mesh_path: Path | str, form: str = "zone") -> str:
    """`globaldns table --format FORM --mesh PATH`: the zone file NSD serves beside us."""
    command = ["table", "--format", form, "--mesh", str(mesh_path)]
    done = subprocess.run(
        [sys.executable, "-m", "globaldns", *command],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def udp_raw(port: int, packet: bytes, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, ("127.0.0.1", port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


class Nsd:
    """NSD serving one zone file, configured as BENCH-NOTES says (no RRL)."""

    def __init__(
        self,
        zone: str,
        zone_text: str,
        minimal_responses: bool = False,
        identity: str | None = None,
        version: str | None = None,
    ) -> None:
        """`identity` (also its NSID) and `version` answer CH TXT; hidden (REFUSED) when None."""
        self.dir = Path(tempfile.mkdtemp(prefix="globaldns-nsd-"))
        shown = "".join(
            f'  {key}: "{value}"\n'
            for key, value in (
                ("identity", identity),
                ("nsid", identity and f"ascii_{identity}"),
                ("version", version),
            )
            if value is not None
        )
        self.port = free_port()
        (self.dir / "zone").write_text(zone_text)
        (self.dir / "nsd.conf").write_text(
            f"""server:
  ip-address: 127.0.0.1@{self.port}
  port: {self.port}
  server-count: 1
  username: ""
  zonesdir: "{self.dir}"
  database: ""
  pidfile: "{self.dir}/nsd.pid"
  xfrdfile: "{self.dir}/xfrd.state"
  zonelistfile: "{self.dir}/zone.list"
  logfile: "{self.dir}/nsd.log"
  rrl-ratelimit: 0
  minimal-responses: {"yes" if minimal_responses else "no"}
  hide-version: {"no" if version is not None else "yes"}
  hide-identity: {"no" if identity is not None else "yes"}
{shown}remote-control:
  control-enable: no
zone:
  name: {zone}
  zonefile: zone
"""
        )
        self.process = subprocess.Popen(
            ["nsd", "-d", "-c", str(self.dir / "nsd.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, 15, 0.05, "NSD to answer")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            log = (self.dir / "nsd.log").read_text(errors="replace")
            raise AssertionError(f"nsd exited early:\n{log}")
        try:
            ask(self.port, "nsd-probe.invalid", timeout=0.3)
        except Exception:
            return False
        return True

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
