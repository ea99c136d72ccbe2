"""Prometheus exposition of the plain counters the hot path keeps, computed at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from globaldns.dns.compile import Tier
from globaldns.dns.responder import QueryCounters
from globaldns.server.dns import TransportCounters
from globaldns.sources.status import Registry, State

RCODE_NAMES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
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


class GlobalDnsCollector(Collector):
    """Reads the servers' integers and the table's state; the query path never calls us."""

    def __init__(
        self,
        queries: QueryCounters,
        transport: TransportCounters,
        table_stats: Callable[[], dict[str, int]],
        clusters: Registry,
        is_ready: Callable[[], bool],
        extra: Callable[[], Iterator[GaugeMetricFamily | CounterMetricFamily]] | None = None,
    ) -> None:
        self.queries = queries
        self.transport = transport
        self.table_stats = table_stats
        self.clusters = clusters
        self.is_ready = is_ready
        self.extra = extra

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        requests = CounterMetricFamily(
            "globaldns_requests", "DNS queries received, by query type", labels=["type"]
        )
        other = 0
        for qtype, count in enumerate(self.queries.by_type):
            if not count:
                continue
            if qtype in TYPE_NAMES:
                requests.add_metric([TYPE_NAMES[qtype]], count)
            else:
                other += count
        requests.add_metric(["other"], other)
        yield requests

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
            ("tcp_refused_connections", "TCP connections refused at the cap",
             self.transport.tcp_refused),
            ("tcp_idle_timeouts", "TCP connections closed when idle", self.transport.tcp_timeouts),
            ("errors", "Queries that failed inside the server", self.transport.errors),
            ("table_reloads", "Table commits (changes applied)", stats["commits"]),
            ("table_reload_errors", "Source updates rejected (the last good table kept)",
             stats["reload_errors"]),
            ("name_conflicts", "Names claimed by more than one source; one wins",
             stats["conflicts"]),
        ):  # fmt: skip
            yield CounterMetricFamily(f"globaldns_{name}", help_text, value=value)
        yield GaugeMetricFamily(
            "globaldns_tcp_connections", "Open TCP connections", value=self.transport.tcp_open
        )
        yield GaugeMetricFamily("globaldns_table_names", "Names in the table", value=stats["names"])

        states = GaugeMetricFamily(
            "globaldns_cluster_state",
            "1 for the state each known cluster is in",
            labels=["cluster", "state"],
        )
        for status in self.clusters.clusters.values():
            for state in State:
                states.add_metric([status.name, state.value], int(status.state == state))
        yield states
        yield GaugeMetricFamily(
            "globaldns_ready",
            "1 when every known cluster finished its first sync",
            value=int(self.is_ready()),
        )
        if self.extra is not None:
            yield from self.extra()
