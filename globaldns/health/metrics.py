"""What an operator sees of probing: each gateway address up or not, and how long probes take."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from globaldns.health.prober import Prober


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
        cumulative = list(accumulate(durations.counts))
        bounds = [*(repr(b) for b in durations.buckets), "+Inf"]
        yield HistogramMetricFamily(
            "globaldns_gateway_probe_duration_seconds",
            "Time a gateway probe's TCP connect took (a timeout counts its full wait)",
            buckets=list(zip(bounds, cumulative, strict=True)),
            sum_value=durations.total,
        )
