"""What an operator sees of probing: each gateway address up or not, and how long probes take."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from globaldns.health.prober import Prober
from globaldns.server.metrics import histogram_buckets


class GatewayHealthCollector(Collector):
    """Families built at scrape time from the prober's plain counts."""

    def __init__(self, prober: Prober) -> None:
        self.prober = prober

    def collect(self) -> Iterator[GaugeMetricFamily | HistogramMetricFamily]:
        up = GaugeMetricFamily(
            "globaldns_gateway_up",
            "1 when a remote gateway address counts as up (probes, and its Service's endpoints)",
            labels=["cluster", "address"],
        )
        for cluster, address, is_up in self.prober.gateways():
            up.add_metric([cluster, address], int(is_up))
        yield up
        durations = self.prober.durations
        yield HistogramMetricFamily(
            "globaldns_gateway_probe_duration_seconds",
            "Time a gateway probe's TCP connect took (a timeout counts its full wait)",
            buckets=histogram_buckets(durations.buckets, durations.counts),
            sum_value=durations.total,
        )
