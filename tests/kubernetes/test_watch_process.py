"""The watch process (`--watch-process on`, serve's default): killed or hung, it is replaced,
counted, and the table converges on what changed meanwhile, while names that answered keep
answering; a frame that does not decode is refused and counted; `off` keeps one process."""

from __future__ import annotations

import asyncio
import io
import os
import pickle
import re
import signal
from typing import cast

import dns.rcode
import pytest

from globaldns.config.common import LogSettings
from globaldns.dns.zone import ZoneConfig
from globaldns.sources.kubernetes.frames import (
    FRAME_TARGET,
    MAX_FRAME,
    Begin,
    Change,
    FrameTooLarge,
    Heartbeat,
    Held,
    PutInstance,
    Start,
    decode_reports,
    frames,
)
from globaldns.sources.kubernetes.handoff import Outbox
from globaldns.sources.kubernetes.options import KubeSettings
from globaldns.sources.kubernetes.supervisor import WatchProcess
from globaldns.sources.kubernetes.worker import NICENESS, read_start
from globaldns.sources.status import Registry, State
from globaldns.table.model import Instance, Port
from globaldns.table.scheduler import CommitScheduler
from globaldns.table.table import Table
from harness import GlobalDns, wait_for
from tests.kubernetes.conftest import WAIT, Mesh, endpoints, service

STARTED = re.compile(r"watch process (\d+) started")


def _pids(server: GlobalDns) -> list[int]:
    """The watch processes the server started, in order (its log says each one's pid)."""
    return [int(pid) for pid in STARTED.findall(server.logs())]


def _replaced(server: GlobalDns, before: int, timeout: float = WAIT) -> int:
    """Wait for a watch process after the `before` first ones; its pid."""
    wait_for(lambda: len(_pids(server)) > before, timeout, 0.05, "a new watch process")
    return _pids(server)[before]


def _two_clusters(mesh: Mesh) -> tuple[str, str]:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.put(local, service("bar", "home"), endpoints("bar", "home", True))
    mesh.put(local, service("bar", "leaving"), endpoints("bar", "leaving", True))
    mesh.put(remote, service("bar", "away"), endpoints("bar", "away", True))
    return local, remote


def test_a_killed_watch_process_comes_back_and_the_table_converges(mesh: Mesh) -> None:
    local, remote = _two_clusters(mesh)
    server = mesh.serve([local, remote], local)
    mesh.wait_answer("away.bar.global", ["192.0.2.2"])
    (first,) = _pids(server)
    with mesh.steady("home.bar.global", "away.bar.global"):
        os.kill(first, signal.SIGKILL)
        mesh.delete(local, service("bar", "leaving"))  # made while no process watches
        mesh.put(remote, service("bar", "arrived"), endpoints("bar", "arrived", True))
        second = _replaced(server, 1)
        mesh.wait_answer("arrived.bar.global", ["192.0.2.2"])
        wait_for(
            lambda: server.ask("leaving.bar.global").rcode() == dns.rcode.NXDOMAIN,
            WAIT, 0.05, "the Service deleted meanwhile to go",
        )  # fmt: skip
        mesh.wait_state(local, "synced")
        mesh.wait_state(remote, "synced")
    assert second != first
    assert server.metric("globaldns_watch_process_restarts_total") == 1


def test_a_hung_watch_process_is_detected_and_replaced(mesh: Mesh) -> None:
    local, remote = _two_clusters(mesh)
    server = mesh.serve([local, remote], local, "--watch-process-timeout", "2")
    (first,) = _pids(server)
    with mesh.steady("home.bar.global", "away.bar.global"):
        os.kill(first, signal.SIGSTOP)
        _replaced(server, 1, timeout=2 + WAIT)
        mesh.put(remote, service("bar", "arrived"), endpoints("bar", "arrived", True))
        mesh.wait_answer("arrived.bar.global", ["192.0.2.2"])
    assert "hung, killed" in server.logs()
    wait_for(lambda: not os.path.exists(f"/proc/{first}"), WAIT, what="the hung one reaped")


def test_a_remote_cluster_whose_secret_went_while_no_process_watched_is_dropped(
    mesh: Mesh,
) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.put(remote, service("bar", "away"), endpoints("bar", "away", True))
    secret = mesh.remote_secret(remote)
    mesh.put(local, secret)
    server = mesh.serve([local], local)
    mesh.wait_answer("away.bar.global", ["192.0.2.2"])
    (first,) = _pids(server)
    os.kill(first, signal.SIGSTOP)  # no process watches: the Secret's removal goes unseen
    mesh.delete(local, secret)
    os.kill(first, signal.SIGKILL)
    _replaced(server, 1)
    mesh.wait_answer("away.bar.global", [])
    mesh.wait_state(remote, "absent")


def test_a_watch_process_ends_when_its_server_is_killed(mesh: Mesh) -> None:
    local, remote = _two_clusters(mesh)
    server = mesh.serve([local, remote], local)
    (child,) = _pids(server)
    assert server.process is not None
    server.process.kill()
    server.process.wait(5)
    wait_for(lambda: not _running(child), WAIT, 0.05, "the orphaned watch process to end")


def _running(pid: int) -> bool:
    """Alive and not a zombie (a child of init is reaped at once; a zombie is not running)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _niceness(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[16])


def test_the_watch_process_yields_the_cpu_to_the_serving_one(mesh: Mesh) -> None:
    local, remote = _two_clusters(mesh)
    server = mesh.serve([local, remote], local)
    (first,) = _pids(server)
    assert server.process is not None
    nicer = min(_niceness(server.process.pid) + NICENESS, 19)  # 19: the nicest there is
    wait_for(lambda: _niceness(first) == nicer, WAIT, 0.05, "the forked one to be nicer")
    os.kill(first, signal.SIGKILL)  # one spawned anew, not forked, runs as nicely
    second = _replaced(server, 1)
    wait_for(lambda: _niceness(second) == nicer, WAIT, 0.05, "the spawned one to be nicer")


def test_one_process_with_watch_process_off(mesh: Mesh) -> None:
    local, remote = _two_clusters(mesh)
    server = mesh.serve([local, remote], local, "--watch-process", "off")
    mesh.wait_answer("away.bar.global", ["192.0.2.2"])
    assert _pids(server) == []


def _follow(*chunks: bytes) -> WatchProcess:
    """A serving side reading `chunks` as a watch process's stdout, to its end."""
    table = Table(ZoneConfig(zone="global", ttl=5), local_cluster=None)
    watch = WatchProcess(KubeSettings(), LogSettings(), table, Registry(), CommitScheduler(table))

    async def run() -> str:
        watch.start(asyncio.get_running_loop())
        assert watch._task is not None
        watch._task.cancel()  # no process: the frames come from `reader`
        reader = asyncio.StreamReader()
        for chunk in chunks:
            reader.feed_data(chunk)
        reader.feed_eof()
        return await watch._follow(reader)

    assert asyncio.run(run()) == "exited"
    return watch


def test_a_large_batch_leaves_in_frames_near_the_target_and_arrives_whole() -> None:
    batch = [
        PutInstance("c", f"ns/svc-{n}", Instance(f"svc-{n}.ns", ("10.0.0.1",), 1))
        for n in range(5000)
    ]
    sent = list(frames(batch))
    assert len(sent) > 1
    assert all(len(frame) - 4 <= FRAME_TARGET for frame in sent)
    assert [m for frame in sent for m in decode_reports(frame[4:])] == batch


def test_one_message_past_the_bound_is_refused_before_it_is_sent() -> None:
    huge = Instance("h", tuple(f"10.0.{n // 256}.{n % 256}" for n in range(100_000)), 1)
    with pytest.raises(FrameTooLarge):
        list(frames([PutInstance("c", "k", huge)]))


def test_a_new_watch_process_reads_a_large_held_cluster_sent_in_parts_as_one() -> None:
    start = pickle.dumps(Start(KubeSettings(), LogSettings()))
    parts = [
        Held("c", State.SYNCED, True, 300.0, None, {f"k{n}": Instance(f"h{n}", (), 1)})
        for n in range(3)
    ]
    stream = io.BytesIO(len(start).to_bytes(4, "big") + start + b"".join(frames([*parts, Begin()])))
    _, held = read_start(stream)
    assert sorted(held["c"].instances) == ["k0", "k1", "k2"]


def test_a_frame_announced_past_the_bound_ends_the_process() -> None:
    huge = (MAX_FRAME + 1).to_bytes(4, "big")
    with pytest.raises(FrameTooLarge):
        _follow(huge + b"x" * 64)


def test_a_frame_that_does_not_decode_is_refused_counted_and_the_next_one_read() -> None:
    garbage = b"\x93\xa8instance\x01\x02"  # the right tag, the wrong types
    (beat,) = frames([Heartbeat(3, True, 0, {})])
    watch = _follow(len(garbage).to_bytes(4, "big") + garbage, beat)
    assert watch.refused_frames == 1
    assert watch.internal_errors() == 3  # the heartbeat after it was read


class _Told:
    """An Outbox that only records the instances it is told."""

    def __init__(self) -> None:
        self.instances: list[tuple[str, str, Instance | None]] = []

    def put_instance(self, cluster: str, key: str, instance: Instance | None) -> None:
        self.instances.append((cluster, key, instance))


def test_records_decoded_from_frames_share_the_names_and_ports_clusters_repeat() -> None:
    """As the watch side shares them: a frame decodes each string and port list anew, and
    200 clusters x 1,000 services would hold 200,000 copies in the serving process."""
    ports = (Port("http", 80),)
    sent = [
        PutInstance(cluster, "ns/web", Instance("web.ns", (f"10.0.0.{n}",), 1, ports))
        for n, cluster in enumerate(["cluster-a", "cluster-b", "cluster-a"])
    ]
    told = _Told()
    for frame in frames(sent):
        for report in decode_reports(frame[4:]):
            WatchProcess._change(cast(Outbox, told), cast(Change, report))
    (a, key_a, first), (_, key_b, second), (again, _, _) = told.instances
    assert a is again and key_a is key_b
    assert first is not None and second is not None
    assert first.host is second.host and first.ports is second.ports
    assert [i for _, _, i in told.instances] == [s.instance for s in sent]
