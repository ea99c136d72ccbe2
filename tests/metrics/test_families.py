"""In-process: the hot path's plain integers become the families an operator of CoreDNS expects."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from globaldns.dns.responder import QueryCounters
from globaldns.server.counters import DURATION_BUCKETS, TransportCounters
from globaldns.server.metrics import GlobalDnsCollector, Scraper
from globaldns.sources.status import Registry, State

from .scrape import value, values

STATS = {
    "names": 3,
    "commits": 2,
    "reload_errors": 1,
    "conflicts": 0,
    "internal_errors": 4,
    "last_reload_success": 1_700_000_000.5,
}
# CoreDNS's `coredns_dns_request_duration_seconds` buckets, as it exports them.
COREDNS_BUCKETS = [
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512,
    1.024, 2.048, 4.096, 8.192,
]  # fmt: skip


def exported(transport: TransportCounters, clusters: Registry | None = None) -> list[Sample]:
    collector = GlobalDnsCollector(
        QueryCounters(), transport, lambda: STATS, clusters or Registry(), lambda: True
    )
    text = generate_latest(Scraper(collector).freeze()).decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def durations(*counts: tuple[int, int]) -> list[int]:
    """Non-cumulative per-bucket counts (last: above every bound) with (index, count) set."""
    buckets = [0] * (len(DURATION_BUCKETS) + 1)
    for index, count in counts:
        buckets[index] = count
    return buckets


def test_duration_buckets_are_coredns_s() -> None:
    assert list(DURATION_BUCKETS) == COREDNS_BUCKETS


def test_duration_histogram_buckets_count_everything_at_or_below_their_bound() -> None:
    transport = TransportCounters()
    transport.udp_durations = durations((0, 5), (3, 2), (len(DURATION_BUCKETS), 1))
    transport.udp_duration_sum = 9.25
    transport.tcp_durations = durations()
    transport.tcp_duration_sum = 0.0
    samples = exported(transport)
    name = "globaldns_request_duration_seconds_bucket"
    buckets = {
        float(s.labels["le"]): s.value
        for s in samples
        if s.name == name and s.labels["proto"] == "udp"
    }
    assert list(buckets) == [*COREDNS_BUCKETS, float("inf")]
    # 5 at or below 0.25 ms, 2 more at or below 2 ms, 1 above every bound.
    assert [buckets[b] for b in (0.00025, 0.001, 0.002, 8.192, float("inf"))] == [5, 5, 7, 7, 8]
    assert value(samples, "globaldns_request_duration_seconds_count", proto="udp") == 8
    assert value(samples, "globaldns_request_duration_seconds_sum", proto="udp") == 9.25


def test_duration_histogram_keeps_protocols_apart() -> None:
    transport = TransportCounters()
    transport.udp_durations = durations((1, 3))
    transport.udp_duration_sum = 0.0012
    transport.tcp_durations = durations((6, 2))
    transport.tcp_duration_sum = 0.03
    samples = exported(transport)
    counts = {
        proto: value(samples, "globaldns_request_duration_seconds_count", proto=proto)
        for proto in ("udp", "tcp")
    }
    assert counts == {"udp": 3, "tcp": 2}


def test_cluster_watch_errors_are_counted_per_cluster() -> None:
    clusters = Registry()
    clusters.set("east", "kubernetes", State.STALE, "connection refused")
    clusters.set("west", "kubernetes", State.SYNCED)
    clusters.clusters["east"].errors = 3
    samples = exported(TransportCounters(), clusters)
    name = "globaldns_cluster_watch_errors_total"
    assert (
        value(samples, name, target_cluster="east"),
        value(samples, name, target_cluster="west"),
    ) == (3, 0)


def test_a_new_connection_beside_the_serving_one_is_exported_with_its_state() -> None:
    clusters = Registry()
    clusters.set("east", "kubernetes", State.SYNCED)
    clusters.set("west", "kubernetes", State.SYNCED)
    clusters.set_next("east", State.SYNCING, "services: HTTP 401 Unauthorized")
    samples = exported(TransportCounters(), clusters)
    name = "globaldns_cluster_new_connection"
    assert value(samples, name, target_cluster="east", state="syncing") == 1
    assert not [s for s in samples if s.name == name and s.labels["target_cluster"] == "west"]


def test_table_stats_become_reload_time_and_internal_errors() -> None:
    samples = exported(TransportCounters())
    assert value(samples, "globaldns_last_reload_success_timestamp_seconds") == 1_700_000_000.5
    assert value(samples, "globaldns_internal_errors_total") == 4


def test_standard_collectors_sit_beside_ours_on_the_custom_registry() -> None:
    names = {s.name for s in exported(TransportCounters())}
    assert {"process_cpu_seconds_total", "python_info", "python_gc_collections_total"} <= names
    assert values(exported(TransportCounters()), "globaldns_ready") == [1]


def test_requests_are_counted_by_known_type_and_the_rest_as_other() -> None:
    queries = QueryCounters()
    queries.by_type[1], queries.by_type[28], queries.by_type[999], queries.by_type[65535] = (
        3,
        2,
        4,
        1,
    )
    collector = GlobalDnsCollector(
        queries, TransportCounters(), lambda: STATS, Registry(), lambda: True
    )
    text = generate_latest(Scraper(collector).freeze()).decode()
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    counted = {s.labels["type"]: s.value for s in samples if s.name == "globaldns_requests_total"}
    assert counted == {"A": 3, "AAAA": 2, "other": 5}


def test_per_cluster_families_name_the_target_cluster_never_cluster() -> None:
    clusters = Registry()
    clusters.set("east", "kubernetes", State.SYNCED)
    clusters.set_next("east", State.SYNCING, "")
    samples = [s for s in exported(TransportCounters(), clusters) if "_cluster_" in s.name]
    assert {s.name.removesuffix("_total") for s in samples} >= {
        "globaldns_cluster_state",
        "globaldns_cluster_watch_errors",
        "globaldns_cluster_new_connection",
    }
    assert all(s.labels["target_cluster"] == "east" and "cluster" not in s.labels for s in samples)
