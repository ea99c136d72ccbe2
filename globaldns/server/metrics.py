"""Prometheus exposition of the plain counters the hot path keeps, computed at scrape time."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import accumulate

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from globaldns import __version__
from globaldns.dns.compile import Tier
from globaldns.dns.responder import QueryCounters
from globaldns.server.dns import DURATION_BUCKETS, TcpRefusal, TransportCounters
from globaldns.server.rrl import Verdict
from globaldns.sources.status import Registry, State

RCODE_NAMES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    9: "NOTAUTH",
    16: "BADVERS",
}
TYPE_NAMES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    65: "HTTPS",
    252: "AXFR",
    255: "ANY",
}


def registry_of(collector: Collector) -> CollectorRegistry:
    """A registry with `collector` and the standard process_*, python_* and gc collectors.

    A custom registry leaves out what the default one carries, and an operator's process and
    Python dashboards expect those beside ours.
    """
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(collector)
    return registry


def duration_histogram(transport: TransportCounters) -> HistogramMetricFamily:
    """`globaldns_request_duration_seconds` by proto from per-bucket (non-cumulative) counts."""
    family = HistogramMetricFamily(
        "globaldns_request_duration_seconds",
        "Time from reading a query to sending its reply, by transport",
        labels=["proto"],
    )
    for proto, counts, total in (
        ("udp", transport.udp_durations, transport.udp_duration_sum),
        ("tcp", transport.tcp_durations, transport.tcp_duration_sum),
    ):
        family.add_metric([proto], histogram_buckets(DURATION_BUCKETS, counts), total)
    return family


def histogram_buckets(bounds: Iterable[float], counts: Iterable[int]) -> list[tuple[str, int]]:
    """Prometheus buckets from per-bucket counts (the last one above every bound): running
    totals, since a bucket counts everything at or below its bound."""
    # `le` spelt as prometheus_client spells its own histograms' bounds (untyped library).
    labels = [*(floatToGoString(b) for b in bounds), "+Inf"]  # type: ignore[no-untyped-call]
    return list(zip(labels, accumulate(counts), strict=True))


class GlobalDnsCollector(Collector):
    """Reads the servers' integers and the table's state; the query path never calls us."""

    def __init__(
        self,
        queries: QueryCounters,
        transport: TransportCounters,
        table_stats: Callable[[], Mapping[str, float]],
        clusters: Registry,
        is_ready: Callable[[], bool],
        extra: Callable[[], Iterator[Metric]] | None = None,
    ) -> None:
        self.queries = queries
        self.transport = transport
        self.table_stats = table_stats
        self.clusters = clusters
        self.is_ready = is_ready
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        build = GaugeMetricFamily(
            "globaldns_build_info",
            "1, labelled with the globaldns version and the Python it runs on",
            labels=["version", "python"],
        )
        build.add_metric([__version__, platform.python_version()], 1)
        yield build

        requests = CounterMetricFamily(
            "globaldns_requests", "DNS queries received, by query type", labels=["type"]
        )
        # 65,536 counters, nearly all zero: read the named ones, sum the rest at C speed.
        by_type = self.queries.by_type
        named = 0
        for qtype, name in TYPE_NAMES.items():
            if by_type[qtype]:
                requests.add_metric([name], by_type[qtype])
                named += by_type[qtype]
        requests.add_metric(["other"], sum(by_type) - named)
        yield requests
        yield duration_histogram(self.transport)

        responses = CounterMetricFamily(
            "globaldns_responses", "DNS responses sent, by rcode", labels=["rcode"]
        )
        for rcode, count in enumerate(self.queries.by_rcode):
            if count or rcode in RCODE_NAMES:
                responses.add_metric([RCODE_NAMES.get(rcode, str(rcode))], count)
        yield responses

        tiers = CounterMetricFamily(
            "globaldns_answers", "Answers given, by the tier they came from", labels=["tier"]
        )
        for tier in Tier:
            tiers.add_metric([tier.label], self.queries.by_tier[tier])
        yield tiers

        stats = self.table_stats()
        for name, help_text, value in (
            ("dropped_packets", "Packets dropped: unreadable, or replies", self.queries.dropped),
            ("truncated_responses", "UDP responses sent with TC set", self.queries.truncated),
            ("tcp_accepted_connections", "TCP connections accepted",
             self.transport.tcp_accepted),
            ("tcp_idle_timeouts", "TCP connections closed having completed no message within "
             "the idle timeout", self.transport.tcp_timeouts),
            ("tcp_unread_timeouts", "TCP connections closed by the idle timeout while paused, "
             "their answers unread", self.transport.tcp_unread_timeouts),
            ("tcp_read_pauses", "Times a TCP connection stopped being read because its client "
             "left its answers unread", self.transport.tcp_pauses),
            ("errors", "Datagrams lost to the network (ICMP errors, full send buffers)",
             self.transport.errors),
            ("table_reloads", "Table commits (changes applied)", stats["commits"]),
            ("table_reload_errors", "Source updates rejected (the last good table kept)",
             stats["reload_errors"]),
            ("name_conflicts", "Names claimed by more than one source; one wins",
             stats["conflicts"]),
            ("internal_errors", "Bugs caught and logged with a traceback (a name kept its "
             "previous answer, or one query went unanswered); report them",
             stats["internal_errors"] + self.transport.bugs),
        ):  # fmt: skip
            yield CounterMetricFamily(f"globaldns_{name}", help_text, value=value)
        limited = CounterMetricFamily(
            "globaldns_rrl_limited_replies",
            "UDP replies response-rate limiting held back: dropped, or slipped (sent truncated)",
            labels=["action"],
        )
        for verdict in (Verdict.DROP, Verdict.SLIP):
            limited.add_metric([verdict.label], self.transport.rrl[verdict])
        yield limited
        refused = CounterMetricFamily(
            "globaldns_tcp_refused_connections",
            "TCP connections refused, by the cap that refused them",
            labels=["reason"],
        )
        for reason in TcpRefusal:
            refused.add_metric([reason.label], self.transport.tcp_refused[reason])
        yield refused
        yield GaugeMetricFamily(
            "globaldns_tcp_connections", "Open TCP connections", value=self.transport.tcp_open
        )
        yield GaugeMetricFamily("globaldns_table_names", "Names in the table", value=stats["names"])
        yield GaugeMetricFamily(
            "globaldns_last_reload_success_timestamp_seconds",
            "Unix time the sources were last read without error (at start, then each reload)",
            value=stats["last_reload_success"],
        )
        yield from self._cluster_families()
        yield GaugeMetricFamily(
            "globaldns_ready",
            "1 when /ready answers 200: every known cluster synced once and its names compiled, "
            "not draining (lameduck)",
            value=int(self.is_ready()),
        )
        if self.extra is not None:
            yield from self.extra()

    def _cluster_families(self) -> Iterator[Metric]:
        states = GaugeMetricFamily(
            "globaldns_cluster_state",
            "1 for the state each known cluster is in",
            labels=["cluster", "state"],
        )
        errors = CounterMetricFamily(
            "globaldns_cluster_watch_errors",
            "Failed lists and watches of a cluster's API (each one retried)",
            labels=["cluster"],
        )
        for status in self.clusters.clusters.values():
            for state in State:
                states.add_metric([status.name, state.value], int(status.state == state))
            errors.add_metric([status.name], status.errors)
        yield states
        yield errors
