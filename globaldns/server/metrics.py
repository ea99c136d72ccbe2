"""Prometheus exposition of the plain counters the hot path keeps, computed at scrape time."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple, Protocol

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
from globaldns.dns.wire import Unfit
from globaldns.server.counters import DURATION_BUCKETS, TcpRefusal, TransportCounters
from globaldns.server.rrl import Verdict
from globaldns.sources.kubernetes.remote_kubeconfig import REASONS
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


class LoopOwned(Protocol):
    """A collector of state the serving loop changes: `frozen()`, called on the loop, copies
    what it reads (cheap) into a collector that may then run in any thread."""

    def frozen(self) -> Collector: ...


class Scrape(Collector):
    """The families of one scrape, from collectors that are safe to run off the loop."""

    def __init__(self, parts: Sequence[Collector]) -> None:
        self.parts = parts

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield from part.collect()


class Scraper:
    """`/metrics` without holding the serving loop: `freeze()` on the loop copies what the
    loop-owned collectors read; building the families and writing the text (about 40 ms at
    200 clusters, all of it a DNS stall when done on the loop) then runs in a worker thread.

    The standard process_*, python_* and gc collectors sit beside ours (a custom registry leaves
    out what the default one carries, and an operator's dashboards expect them); they read
    only the process and the interpreter, so they run in the thread as they are.
    """

    def __init__(self, *loop_owned: LoopOwned) -> None:
        self.standard = CollectorRegistry()
        ProcessCollector(registry=self.standard)
        PlatformCollector(registry=self.standard)
        GCCollector(registry=self.standard)
        self.loop_owned = list(loop_owned)

    def freeze(self) -> Scrape:
        return Scrape([self.standard, *(part.frozen() for part in self.loop_owned)])


class Later(Collector):
    """Families built when collected, from what was read before (`LoopOwned.frozen`)."""

    def __init__(self, families: Callable[[], Iterable[Metric]]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families()


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


class _ClusterReading(NamedTuple):
    name: str
    state: State
    errors: int  # failed lists and watches so far
    next_state: State | None  # a new connection's, while one is made beside the serving one
    age: float | None  # seconds since its data was last proved current


@dataclass(frozen=True)
class _Reading:
    """What a scrape reads of loop-owned state, copied on the loop. The counters are not
    copied: fixed-size lists and plain integers, safe to read from any thread."""

    stats: Mapping[str, float]
    clusters: tuple[_ClusterReading, ...]
    refusals: Mapping[str, int]  # refused remote Secrets by reason
    duplicate_secrets: int  # remote Secrets ignored: an older one names the same cluster
    ready: bool
    extra: tuple[Metric, ...]


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
        zones: Sequence[tuple[str, QueryCounters]] = (),
    ) -> None:
        """`queries` are the main zone's (`zones[0]`'s name, else unlabelled); `zones` name
        each zone's own counters (answers by tier, truncated replies), the main one's first."""
        self.queries = queries
        self.zones = zones
        self.transport = transport
        self.table_stats = table_stats
        self.clusters = clusters
        self.is_ready = is_ready
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        return self._families(self._read())

    def frozen(self) -> Collector:
        reading = self._read()
        return Later(lambda: self._families(reading))

    def _read(self) -> _Reading:
        return _Reading(
            stats=dict(self.table_stats()),
            clusters=tuple(
                _ClusterReading(c.name, c.state, c.errors, c.next_state, c.age())
                for c in self.clusters.shown()
            ),
            refusals=dict(self.clusters.refusals),
            duplicate_secrets=self.clusters.duplicate_secrets,
            ready=self.is_ready(),
            extra=tuple(self.extra()) if self.extra is not None else (),
        )

    def _families(self, reading: _Reading) -> Iterator[Metric]:
        queries, transport, stats = self.queries, self.transport, reading.stats
        yield _build_info()
        yield _requests(queries.by_type)
        yield duration_histogram(transport)
        yield _responses(queries.by_rcode)
        yield _answers(self.zones or (("", queries),))
        yield from _counters(queries, transport, stats, self.zones[1:])
        yield _by_label(
            "globaldns_names_skipped",
            "Names never served because they cannot be DNS names or their ServiceEntry "
            "is skipped (resolution NONE, no address, a wide CIDR, a host outside the zone; "
            "logged once each), by why",
            "reason",
            ((unfit.label, stats.get(f"skipped_{unfit.label}", 0)) for unfit in Unfit),
        )
        yield _by_label(
            "globaldns_rrl_limited_replies",
            "UDP replies response-rate limiting held back: dropped, or slipped (sent truncated)",
            "action",
            ((verdict.label, transport.rrl[verdict]) for verdict in (Verdict.DROP, Verdict.SLIP)),
        )
        yield _by_label(
            "globaldns_tcp_refused_connections",
            "TCP connections refused, by the cap that refused them",
            "reason",
            ((reason.label, transport.tcp_refused[reason]) for reason in TcpRefusal),
        )
        yield GaugeMetricFamily(
            "globaldns_tcp_connections", "Open TCP connections", value=transport.tcp_open
        )
        yield GaugeMetricFamily("globaldns_table_names", "Names in the table", value=stats["names"])
        yield GaugeMetricFamily(
            "globaldns_last_reload_success_timestamp_seconds",
            "Unix time the sources were last read without error (at start, then each reload)",
            value=stats["last_reload_success"],
        )
        yield from _cluster_families(reading.clusters)
        yield _refusal_family(reading.refusals)
        yield CounterMetricFamily(
            "globaldns_remote_secret_duplicates",
            "Remote Secrets ignored because an older Secret names the same cluster ID",
            value=reading.duplicate_secrets,
        )
        yield GaugeMetricFamily(
            "globaldns_ready",
            "1 when /ready answers 200: the mesh file or local cluster loaded once and compiled "
            "(then it stays 1 while serving), not draining (lameduck)",
            value=int(reading.ready),
        )
        yield from reading.extra


def _build_info() -> GaugeMetricFamily:
    build = GaugeMetricFamily(
        "globaldns_build_info",
        "1, labelled with the globaldns version and the Python it runs on",
        labels=["version", "python"],
    )
    build.add_metric([__version__, platform.python_version()], 1)
    return build


def _by_label(
    name: str, help_text: str, label: str, counts: Iterable[tuple[str, float]]
) -> CounterMetricFamily:
    """A counter family with one sample per value of one label."""
    family = CounterMetricFamily(name, help_text, labels=[label])
    for value, count in counts:
        family.add_metric([value], count)
    return family


def _requests(by_type: Sequence[int]) -> CounterMetricFamily:
    """Queries by type: 65,536 counters, nearly all zero, so the named ones are read and the
    rest summed at C speed."""
    requests = CounterMetricFamily(
        "globaldns_requests", "DNS queries received, by query type", labels=["type"]
    )
    named = 0
    for qtype, name in TYPE_NAMES.items():
        if by_type[qtype]:
            requests.add_metric([name], by_type[qtype])
            named += by_type[qtype]
    requests.add_metric(["other"], sum(by_type) - named)
    return requests


def _responses(by_rcode: Sequence[int]) -> CounterMetricFamily:
    """Responses by rcode: the named ones always, any other once counted."""
    return _by_label(
        "globaldns_responses", "DNS responses sent, by rcode", "rcode",
        (
            (RCODE_NAMES.get(rcode, str(rcode)), count)
            for rcode, count in enumerate(by_rcode)
            if count or rcode in RCODE_NAMES
        ),
    )  # fmt: skip


def _answers(zones: Sequence[tuple[str, QueryCounters]]) -> CounterMetricFamily:
    """Answers by tier, and by zone when there are several (the main zone's samples last)."""
    if len(zones) == 1 and not zones[0][0]:
        counts = zones[0][1].by_tier
        return _by_label(
            "globaldns_answers", "Answers given, by the tier they came from", "tier",
            ((tier.label, counts[tier]) for tier in Tier),
        )  # fmt: skip
    family = CounterMetricFamily(
        "globaldns_answers", "Answers given, by the tier they came from", labels=["tier", "zone"]
    )
    for zone, counters in reversed(zones):
        for tier in Tier:
            family.add_metric([tier.label, zone], counters.by_tier[tier])
    return family


def _counters(
    queries: QueryCounters,
    transport: TransportCounters,
    stats: Mapping[str, float],
    others: Sequence[tuple[str, QueryCounters]] = (),
) -> Iterator[Metric]:
    """The unlabelled counters."""
    truncated = queries.truncated + sum(counters.truncated for _, counters in others)
    for name, help_text, value in (
        ("dropped_packets", "Packets dropped: unreadable, or replies", queries.dropped),
        ("truncated_responses", "UDP responses sent with TC set", truncated),
        ("tcp_accepted_connections", "TCP connections accepted", transport.tcp_accepted),
        ("tcp_idle_timeouts", "TCP connections closed having completed no message within "
         "the idle timeout", transport.tcp_timeouts),
        ("tcp_unread_timeouts", "TCP connections closed by the idle timeout while paused, "
         "their answers unread", transport.tcp_unread_timeouts),
        ("tcp_read_pauses", "Times a TCP connection stopped being read because its client "
         "left its answers unread", transport.tcp_pauses),
        ("errors", "Datagrams lost to the network (ICMP errors, full send buffers)",
         transport.errors),
        ("table_reloads", "Table commits (changes applied)", stats["commits"]),
        ("table_reload_errors", "Source updates rejected (the last good table kept)",
         stats["reload_errors"]),
        ("name_conflicts", "Names claimed by more than one source; one wins",
         stats["conflicts"]),
        ("watch_process_restarts", "Kubernetes watch processes replaced: exited, hung (silent "
         "past --watch-process-timeout) or out of step", stats.get("watch_process_restarts", 0)),
        ("watch_process_refused_frames", "Frames from the watch process that did not decode, "
         "refused whole (a bug)", stats.get("watch_process_refused_frames", 0)),
        ("clusterset_export_conflicts", "Services exported in conflicting ways (their type or "
         "ports differ); the oldest export wins (KEP-1645)", stats.get("export_conflicts", 0)),
        ("internal_errors", "Bugs caught and logged with a traceback (a name kept its "
         "previous answer, or one query went unanswered); report them",
         stats["internal_errors"] + transport.bugs),
    ):  # fmt: skip
        yield CounterMetricFamily(f"globaldns_{name}", help_text, value=value)


def _cluster_families(clusters: Iterable[_ClusterReading]) -> Iterator[Metric]:
    """Per-cluster families, labelled `target_cluster`: in federated Prometheus `cluster` is
    the usual external label of the observing cluster (SPEC §5)."""
    states = GaugeMetricFamily(
        "globaldns_cluster_state",
        "1 for the state each known cluster is in",
        labels=["target_cluster", "state"],
    )
    errors = CounterMetricFamily(
        "globaldns_cluster_watch_errors",
        "Failed lists and watches of a cluster's API (each one retried)",
        labels=["target_cluster"],
    )
    replacing = GaugeMetricFamily(
        "globaldns_cluster_new_connection",
        "1 for the state of a new connection (a changed remote Secret) being made beside "
        "the one that serves the cluster, until it has synced and replaced it",
        labels=["target_cluster", "state"],
    )
    ages = GaugeMetricFamily(
        "globaldns_cluster_data_age_seconds",
        "Seconds since the cluster's API last proved its data current (an event or bookmark "
        "on every watch); grows while it is stale",
        labels=["target_cluster"],
    )
    for cluster in clusters:
        for state in State:
            states.add_metric([cluster.name, state.value], int(cluster.state == state))
        errors.add_metric([cluster.name], cluster.errors)
        if cluster.next_state is not None:
            replacing.add_metric([cluster.name, cluster.next_state.value], 1)
        if cluster.age is not None:
            ages.add_metric([cluster.name], cluster.age)
    yield states
    yield errors
    yield replacing
    yield ages


def _refusal_family(refusals: Mapping[str, int]) -> Metric:
    return _by_label(
        "globaldns_remote_secrets_refused",
        "Remote-cluster Secrets refused (no client made, no watch started), by the option or "
        "fault the kubeconfig had",
        "reason",
        ((reason.value, refusals.get(reason.value, 0)) for reason in REASONS),
    )
