"""The prober against real loopback listeners, in process, with a recording table: what it
probes, what it reports and when."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from globaldns.dns.zone import ZoneConfig
from globaldns.health.counting import Outcome
from globaldns.health.options import ProbeSettings
from globaldns.health.prober import Prober, Target, targets
from globaldns.table.model import Cluster, GatewayHealth
from globaldns.table.sites import Site, site
from globaldns.table.table import Table
from harness.gateways import Gateway, GatewayFarm

FAST = ProbeSettings(port=None, interval=0.05, timeout=0.1)


@dataclass
class RecordingTable:
    """The prober's view of the table: clusters to read, health calls and commits to record."""

    clusters: dict[str, Cluster]
    local: str | None = "here"
    health: dict[tuple[str, str], GatewayHealth | None] = field(default_factory=dict)
    calls: list[tuple[str, str, GatewayHealth | None]] = field(default_factory=list)
    commits: int = 0

    @property
    def sites(self) -> dict[str, Site]:
        """The clusters' gateways judged as the table judges them, from the health reported."""
        return {
            name: site(cluster, {a: h for (c, a), h in self.health.items() if c == name and h})
            for name, cluster in self.clusters.items()
        }

    def put_gateway_health(self, cluster: str, address: str, health: GatewayHealth | None) -> None:
        self.health[(cluster, address)] = health
        self.calls.append((cluster, address, health))

    def reclaim(self, until: float) -> bool:
        return True  # claims are not kept: nothing to bring in line

    def commit(self, budget: float | None = None) -> bool:
        self.commits += 1
        return True

    def put_cluster(self, cluster: Cluster) -> None:
        self.clusters[cluster.name] = cluster

    def drop_cluster(self, name: str) -> None:
        self.clusters.pop(name, None)

    def put_instance(self, *args: object) -> None: ...

    def put_entry(self, *args: object) -> None: ...

    def set_complete(self, complete: bool) -> None: ...


def probing(
    table: RecordingTable,
    until: Callable[[Prober], bool],
    settings: ProbeSettings = FAST,
    timeout: float = 3.0,
    then: Callable[[], object] | None = None,
    until_after: Callable[[Prober], bool] | None = None,
) -> Prober:
    """Run a prober until `until()` (then `then()`, until `until_after()`), bounded in time."""
    prober = Prober(table, settings)

    async def main() -> None:
        task = asyncio.create_task(prober.run())
        deadline = time.monotonic() + timeout
        for condition, action in ((until, then), (until_after, None)):
            if condition is None:
                continue
            while not condition(prober):
                assert time.monotonic() < deadline, f"not within {timeout}s: {table.calls}"
                await asyncio.sleep(0.01)
            if action is not None:
                action()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    return prober


def remote(name: str, *gateways: str, port: int | None) -> Cluster:
    return Cluster(name, "east", gateways, probe_port=port)


def one_gateway(farm: GatewayFarm, address: str, mode: str) -> tuple[Gateway, RecordingTable]:
    """A gateway in mode `mode` (accept, refuse, black_hole), cluster b's only one."""
    gateway = getattr(farm.gateway(address), mode)()
    return gateway, RecordingTable({"b": remote("b", address, port=farm.port)})


def on_first_change(table: RecordingTable, then: Callable[[], object]) -> None:
    """Probe until the first report, `then()`, and probe until the next one."""
    probing(
        table,
        lambda _: len(table.calls) == 1,
        then=then,
        until_after=lambda _: len(table.calls) == 2,
    )


@pytest.mark.parametrize(
    ("mode", "error"), [("refuse", "refused 3 times"), ("black_hole", "timed out 3 times")]
)
def test_a_dead_gateway_goes_down_after_three_failures_and_says_why(
    farm: GatewayFarm, mode: str, error: str
) -> None:
    _, table = one_gateway(farm, "127.0.3.1", mode)
    probing(table, lambda _: bool(table.calls))
    health = table.health[("b", "127.0.3.1")]
    assert health is not None and (health.up, health.error) == (False, error)
    assert table.commits >= 1


def test_a_down_gateway_that_comes_back_is_up_again(farm: GatewayFarm) -> None:
    gateway, table = one_gateway(farm, "127.0.3.3", "refuse")
    on_first_change(table, gateway.accept)
    health = table.health[("b", "127.0.3.3")]
    assert health is not None and health.up and health.error == "refused 3 times"


def test_an_accepting_gateway_is_never_reported(farm: GatewayFarm) -> None:
    _, table = one_gateway(farm, "127.0.3.4", "accept")
    probing(table, lambda prober: sum(prober.durations.counts) >= 6)
    assert table.calls == []


def test_probes_are_timed_into_the_histogram(farm: GatewayFarm) -> None:
    _, table = one_gateway(farm, "127.0.3.5", "black_hole")
    prober = probing(table, lambda _: bool(table.calls))
    assert sum(prober.durations.counts) >= 3
    assert prober.durations.total >= 3 * FAST.timeout * 0.9


def test_a_gateway_that_leaves_the_table_has_its_health_forgotten(farm: GatewayFarm) -> None:
    _, table = one_gateway(farm, "127.0.3.6", "refuse")
    on_first_change(table, lambda: table.drop_cluster("b"))
    assert table.calls[-1] == ("b", "127.0.3.6", None)


def test_the_gateway_up_view_counts_probes_and_the_gateway_services_readiness(
    farm: GatewayFarm,
) -> None:
    down = farm.gateway("127.0.3.7").refuse()
    up = farm.gateway("127.0.3.8")
    table = RecordingTable(
        {
            "b": remote("b", down.address, up.address, port=farm.port),
            "c": replace(remote("c", "127.0.3.9", port=None), gateway_ready=False),
            "here": remote("here", "127.0.3.10", port=farm.port),
        }
    )
    prober = probing(table, lambda _: bool(table.calls))
    assert sorted(prober.gateways()) == [
        ("b", "127.0.3.7", False),
        ("b", "127.0.3.8", True),
        ("c", "127.0.3.9", False),
    ]


def test_the_gateway_up_view_is_the_tables_judgement_of_each_address() -> None:
    table = Table(ZoneConfig(), "here")
    table.put_cluster(remote("b", "192.0.2.1", "192.0.2.2", port=None))
    table.put_cluster(replace(remote("c", "192.0.2.3", port=None), gateway_ready=False))
    table.put_cluster(remote("here", "192.0.2.4", port=None))
    table.put_gateway_health("b", "192.0.2.2", GatewayHealth(False, 1.0, "refused 3 times"))
    table.put_gateway_health("here", "192.0.2.4", GatewayHealth(False, 1.0, "refused 3 times"))
    assert sorted(Prober(table, FAST).gateways()) == [
        ("b", "192.0.2.1", True),
        ("b", "192.0.2.2", False),
        ("c", "192.0.2.3", False),
    ]


@pytest.mark.parametrize(
    ("flag", "cluster_port", "probed_on"),
    [
        (None, None, None),  # a mesh file without probePort: not probed
        (None, 15443, 15443),  # the cluster's own port
        (0, 15443, None),  # --gateway-probe-port 0: off everywhere
        (9000, None, 9000),  # --gateway-probe-port 9000: on for every cluster
        (9000, 15443, 9000),
    ],
)
def test_which_port_a_cluster_is_probed_on(
    flag: int | None, cluster_port: int | None, probed_on: int | None
) -> None:
    found = targets([remote("b", "127.0.4.1", port=cluster_port)], "here", ProbeSettings(port=flag))
    assert found == ({Target("b", "127.0.4.1", probed_on)} if probed_on else set())


def test_the_local_cluster_is_never_probed() -> None:
    clusters = [remote("here", "127.0.4.2", port=15443), remote("b", "127.0.4.3", port=15443)]
    assert targets(clusters, "here", ProbeSettings()) == {Target("b", "127.0.4.3", 15443)}


def test_a_probe_classifies_refused_timed_out_and_connected(farm: GatewayFarm) -> None:
    accepting = farm.gateway("127.0.4.4")
    refusing = farm.gateway("127.0.4.5").refuse()
    holing = farm.gateway("127.0.4.6").black_hole()
    prober = Prober(RecordingTable({}), FAST)

    async def probe(target: Target) -> Outcome:
        """One probe on its own, through the prober's own connect."""
        result: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        prober._start(asyncio.get_running_loop(), target, result.set_result)
        return await result

    async def probe_all() -> list[Outcome]:
        return [
            await probe(Target("b", g.address, farm.port)) for g in (accepting, refusing, holing)
        ]

    assert asyncio.run(probe_all()) == [Outcome.CONNECTED, Outcome.REFUSED, Outcome.TIMED_OUT]
