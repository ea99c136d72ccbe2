"""What an operator sees of probing: each gateway address up or not, and how long probes take."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from globaldns.health.prober import Prober
from globaldns.server.metrics import Later, histogram_buckets


class GatewayHealthCollector(Collector):
    """Families built at scrape time from the prober's plain counts."""

    def __init__(self, prober: Prober) -> None:
        self.prober = prober

    def collect(self) -> Iterator[GaugeMetricFamily | HistogramMetricFamily]:
        durations = self.prober.durations
        return _families(
            list(self.prober.gateways()), durations.buckets, list(durations.counts), durations.total
        )

    def frozen(self) -> Collector:
        """What `collect` reads, copied now (on the serving loop, which probes): the families
        are built later, in the scrape's worker thread."""
        gateways = list(self.prober.gateways())
        durations = self.prober.durations
        buckets, counts, total = durations.buckets, list(durations.counts), durations.total
        return Later(lambda: _families(gateways, buckets, counts, total))


def _families(
    gateways: list[tuple[str, str, bool]],
    buckets: tuple[float, ...],
    counts: list[int],
    total: float,
) -> Iterator[GaugeMetricFamily | HistogramMetricFamily]:
    up = GaugeMetricFamily(
        "globaldns_gateway_up",
        "1 when a remote gateway address counts as up (probes, and its Service's endpoints)",
        labels=["target_cluster", "address"],  # not `cluster`: see server/metrics.py
    )
    for cluster, address, is_up in gateways:
        up.add_metric([cluster, address], int(is_up))
    yield up
    yield HistogramMetricFamily(
        "globaldns_gateway_probe_duration_seconds",
        "Time a gateway probe's TCP connect took (a timeout counts its full wait)",
        buckets=histogram_buckets(buckets, counts),
        sum_value=total,
    )
