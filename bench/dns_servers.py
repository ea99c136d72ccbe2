"""The servers dns_bench runs: each pinned to a core, checked with dig, and always stopped."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dns_workloads import Expected
from dnslib import DNSRecord

from globaldns.server.dns import PURE_PYTHON_ENV
from harness import free_port

REPO = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"


class BenchError(RuntimeError):
    """The bench cannot produce trustworthy numbers (a server failed or answered wrong)."""


def nsd_config(workdir: Path, zone_file: Path, port: int, round_robin: bool) -> str:
    """NSD as BENCH-NOTES says: one server process, no RRL, minimal responses, all state here.

    With `round_robin`, NSD rotates several records as globaldns must (SPEC section 2);
    without, it always sends them in one order (NSD's default, the issue's reference).
    """
    return f"""server:
    server-count: 1
    ip-address: 127.0.0.1@{port}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{workdir}"
    pidfile: "{workdir}/nsd.pid"
    zonelistfile: "{workdir}/nsd.zonelist"
    xfrdfile: "{workdir}/nsd.xfrd.state"
    xfrdir: "{workdir}"
    database: ""
    logfile: "{workdir}/nsd.log"
    verbosity: 0
    rrl-ratelimit: 0
    minimal-responses: yes
    round-robin: {"yes" if round_robin else "no"}
remote-control:
    control-enable: no
zone:
    name: global
    zonefile: "{zone_file}"
"""


@dataclass
class Server:
    """A server process to start: its command, port, log, and where and how it runs."""

    name: str
    argv: list[str]
    port: int
    log: Path
    cwd: Path = REPO
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def cpu_seconds(self) -> float:
        """utime+stime of the process and its descendants (NSD serves from a child)."""
        assert self.process is not None
        tick = os.sysconf("SC_CLK_TCK")
        stats = _proc_stats()
        tree, frontier = {self.process.pid}, [self.process.pid]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, (ppid, _) in stats.items() if ppid == parent]
            tree.update(children)
            frontier.extend(children)
        return sum(stats[pid][1] for pid in tree if pid in stats) / tick


def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, utime+stime in ticks) for every live process."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return stats


@contextmanager
def running(server: Server, core: int, timeout: float = 20.0) -> Iterator[Server]:
    """Start the server pinned to `core`, wait until it answers, and always stop it."""
    with server.log.open("wb") as log:
        server.process = subprocess.Popen(
            ["taskset", "-c", str(core), *server.argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=server.cwd,
            env={**os.environ, **server.env},
            start_new_session=True,
        )
    try:
        _wait_answering(server, timeout)
        yield server
    finally:
        _stop(server.process)


def _wait_answering(server: Server, timeout: float) -> None:
    probe = DNSRecord.question("global.", "SOA").pack()
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            assert server.process is not None
            if server.process.poll() is not None:
                raise BenchError(f"{server.name} exited at start:\n{_tail(server.log)}")
            sock.sendto(probe, ("127.0.0.1", server.port))
            try:
                sock.recv(4096)
                return
            except OSError:
                time.sleep(0.05)
    raise BenchError(f"{server.name} did not answer within {timeout:.0f} s:\n{_tail(server.log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def check_answers(server: Server, samples: list[Expected]) -> None:
    """One dig per server over a question of each kind: rcode, AA and answer records."""
    argv = ["dig", "@127.0.0.1", "-p", str(server.port)]
    argv += ["+norec", "+tries=1", "+time=2", "+noall", "+comments", "+answer"]
    for sample in samples:
        argv += [sample.name, sample.rtype]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout
    expected = [(sample.rcode, True, sample.answers) for sample in samples]
    replies = dig_replies(out)
    if replies != expected:
        raise BenchError(f"{server.name} answers wrong: want {expected}, got {replies}\n{out}")


def dig_replies(out: str) -> list[tuple[str, bool, frozenset[str]]]:
    """(rcode, AA flag, answer rdata) of each reply in `dig +noall +comments +answer` output."""
    replies: list[tuple[str, bool, set[str]]] = []
    for line in out.splitlines():
        status = re.search(r"status: (\w+)", line)
        flags = re.match(r";; flags: ([\w ]*);", line)
        if status:
            replies.append((status.group(1), False, set()))
        elif flags and replies:
            replies[-1] = (replies[-1][0], "aa" in flags.group(1).split(), replies[-1][2])
        elif line and not line.startswith(";") and replies:
            replies[-1][2].add(line.split()[-1])
    return [(rcode, aa, frozenset(answers)) for rcode, aa, answers in replies]


def make_servers(
    workdir: Path, mesh: Path, zone: Path, names: tuple[str, ...], before: Path | None
) -> list[Server]:
    """The chosen servers on free ports, in the order of the first round.

    `pure` is globaldns forced onto the pure-Python UDP loop; `before` another source tree;
    `nsd-fixed` NSD without round robin.
    """
    ports = [free_port() for _ in range(6)]

    def nsd(name: str, port: int, round_robin: bool) -> Server:
        state = workdir / name
        state.mkdir()
        (state / "nsd.conf").write_text(nsd_config(state, zone, port, round_robin))
        return Server(name, ["nsd", "-d", "-c", str(state / "nsd.conf")], port, state / "out")

    def globaldns(port: int) -> list[str]:
        argv = [sys.executable, "-m", "globaldns", "serve", "--mesh", str(mesh)]
        argv += ["--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{free_port()}"]
        return [*argv, "--log-level", "warning"]

    dnslib = [sys.executable, str(PEERS / "dnslib_server.py"), str(zone), str(ports[2])]
    pure = Server("pure", globaldns(ports[4]), ports[4], workdir / "pure.log")
    pure.env[PURE_PYTHON_ENV] = "1"
    chosen = [
        Server("globaldns", globaldns(ports[0]), ports[0], workdir / "gd.log"),
        pure,
        nsd("nsd", ports[1], round_robin=True),
        nsd("nsd-fixed", ports[5], round_robin=False),
        Server("dnslib", dnslib, ports[2], workdir / "dnslib.log"),
    ]
    chosen = [server for server in chosen if server.name in names]
    if before is not None:
        older = Server("before", globaldns(ports[3]), ports[3], workdir / "before.log")
        older.cwd = before.resolve()
        chosen.insert(2 if "pure" in names else 1, older)
    return chosen
