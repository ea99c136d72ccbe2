"""The wiring check asks instead of reading: the watchdog resolves the zone's reserved name
(`_globaldns-wiring.global` TXT) through a real forwarding resolver, unbound standing in for
the cluster's CoreDNS as in the walkthrough, and `globaldns_coredns_wired` says what came back:
1 through the forward, 0 once the forward is gone, absent (unknown) where nothing answers."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.resolver
import pytest

from globaldns.install.kube import Kube
from globaldns.install.watchdog import Watchdog, WatchdogSettings, from_settings
from harness import GlobalDns, free_port, wait_for

from .conftest import Clusters
from .test_walkthrough import stop, unbound_conf

pytestmark = pytest.mark.timeout(60)
GLOBAL, CLUSTERSET = "global.", "clusterset.local."
MESH = {
    "zone": "global",
    "localCluster": "uswest2",
    "clusters": [{"name": "uswest2"}],
    "services": [],
}


@pytest.fixture(scope="module")
def uswest2() -> Iterator[GlobalDns]:
    """globaldns serving cluster uswest2: its reserved name carries that identity."""
    server = GlobalDns(MESH).start()
    yield server
    server.stop()


class Unbound:
    """unbound on loopback, restartable with another configuration."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[Any] | None = None

    def start(self, upstream: int, forward: bool = True, clusterset: bool = False) -> None:
        """Forward `global.` (unless not `forward`) and, with `clusterset`, `clusterset.local.`
        to `upstream`; a zone not forwarded is answered NXDOMAIN, as the public internet would."""
        self.stop()
        conf = unbound_conf(self.directory, self.port, upstream)
        text = conf.read_text().split("forward-zone:")[0]
        forwarded = [zone for zone, on in ((GLOBAL, forward), (CLUSTERSET, clusterset)) if on]
        static = "".join(
            f'    local-zone: "{zone}" static\n'
            for zone in (GLOBAL, CLUSTERSET)
            if zone not in forwarded
        )
        forwards = "".join(
            f"forward-zone:\n    name: {zone!r}\n    forward-addr: 127.0.0.1@{upstream}\n"
            for zone in forwarded
        )
        conf.write_text(text.replace("server:\n", f"server:\n{static}", 1) + forwards)
        self.process = subprocess.Popen(["unbound", "-d", "-c", str(conf)], stderr=subprocess.PIPE)
        wait_for(self._answers, 10, what="unbound to answer")

    def _answers(self) -> bool:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], self.port, 1.0
        try:
            resolver.resolve("_globaldns-wiring.global.", "TXT", raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return True
        except (dns.exception.Timeout, dns.resolver.NoNameservers):
            return False
        return True

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@pytest.fixture
def unbound(tmp_path: Path) -> Iterator[Unbound]:
    made = Unbound(tmp_path)
    yield made
    made.stop()


def watchdog(
    cluster: Clusters, resolver: str, identity: str = "uswest2", also: tuple[str, ...] = ()
) -> Watchdog:
    dog = from_settings(
        WatchdogSettings(
            interval=30.0,
            address=("127.0.0.1", int(resolver.rsplit(":", 1)[1])),
            kubeconfig=cluster.kubeconfig,
            local_cluster=cluster.names[0],
            zone="global",
            also=also,
            ttl=5,
            keep_wired=False,
        )
    )
    assert dog is not None
    dog.identity = identity
    return dog


def wired(dog: Watchdog) -> float | None:
    """One check; the exported `globaldns_coredns_wired`, None when it is absent."""

    async def once() -> None:
        async with await dog.make_client() as api:
            await asyncio.wait_for(dog.check(Kube(api)), 20)

    asyncio.run(once())
    values = [f.samples[0].value for f in dog.families() if f.name == "globaldns_coredns_wired"]
    return values[0] if values else None


def test_the_reserved_name_answers_with_the_clusters_identity(uswest2: GlobalDns) -> None:
    reply = uswest2.ask("_globaldns-wiring.global", "TXT")
    assert [rr.to_text() for rr in reply.answer[0]] == ['"globaldns zone=global cluster=uswest2"']


def test_resolved_through_the_forward_it_is_one(
    cluster: Clusters, uswest2: GlobalDns, unbound: Unbound
) -> None:
    unbound.start(uswest2.port)
    assert wired(watchdog(cluster, f"127.0.0.1:{unbound.port}")) == 1.0


def test_it_turns_zero_when_the_forward_is_removed(
    cluster: Clusters, uswest2: GlobalDns, unbound: Unbound
) -> None:
    unbound.start(uswest2.port)
    dog = watchdog(cluster, f"127.0.0.1:{unbound.port}")
    assert wired(dog) == 1.0
    unbound.start(uswest2.port, forward=False)
    assert wired(dog) == 0.0


def test_another_clusters_globaldns_answering_is_zero(
    cluster: Clusters, uswest2: GlobalDns, unbound: Unbound
) -> None:
    unbound.start(uswest2.port)
    assert wired(watchdog(cluster, f"127.0.0.1:{unbound.port}", identity="useast2")) == 0.0


def test_where_no_resolver_answers_it_is_unknown_not_zero(cluster: Clusters) -> None:
    assert wired(watchdog(cluster, f"127.0.0.1:{free_port()}")) is None


def test_the_clusterset_reserved_name_answers_with_the_clusters_identity(
    uswest2: GlobalDns,
) -> None:
    reply = uswest2.ask("_globaldns-wiring.clusterset.local", "TXT")
    assert [rr.to_text() for rr in reply.answer[0]] == [
        '"globaldns zone=clusterset.local cluster=uswest2"'
    ]


def test_both_zones_resolved_through_their_forwards_is_one(
    cluster: Clusters, uswest2: GlobalDns, unbound: Unbound
) -> None:
    unbound.start(uswest2.port, clusterset=True)
    dog = watchdog(cluster, f"127.0.0.1:{unbound.port}", also=("clusterset.local",))
    assert wired(dog) == 1.0


def test_a_lost_clusterset_forward_turns_it_zero(
    cluster: Clusters, uswest2: GlobalDns, unbound: Unbound, caplog: pytest.LogCaptureFixture
) -> None:
    unbound.start(uswest2.port, clusterset=True)
    dog = watchdog(cluster, f"127.0.0.1:{unbound.port}", also=("clusterset.local",))
    assert wired(dog) == 1.0
    unbound.start(uswest2.port)
    assert wired(dog) == 0.0
    assert "_globaldns-wiring.clusterset.local." in caplog.text


def test_the_clusterset_zone_is_not_asked_unless_it_was_wired(
    cluster: Clusters, uswest2: GlobalDns, unbound: Unbound
) -> None:
    unbound.start(uswest2.port)
    assert wired(watchdog(cluster, f"127.0.0.1:{unbound.port}")) == 1.0
