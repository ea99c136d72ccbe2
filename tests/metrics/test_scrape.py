"""SPEC §5 metrics, scraped from a running server: what an operator of CoreDNS expects."""

from __future__ import annotations

import copy
import json
import platform
import time
from collections import Counter

from globaldns import __version__
from harness import GlobalDns

from .conftest import example_mesh
from .scrape import scrape, value, values

DURATION = "globaldns_request_duration_seconds"


def test_every_query_is_timed_under_its_protocol(server: GlobalDns) -> None:
    for _ in range(3):
        server.ask("foo.global")
    for _ in range(2):
        server.ask("foo.global", tcp=True)
    samples = scrape(server)
    counts = {proto: value(samples, f"{DURATION}_count", proto=proto) for proto in ("udp", "tcp")}
    assert counts == {"udp": 3, "tcp": 2}
    assert value(samples, f"{DURATION}_sum", proto="udp") > 0
    assert value(samples, f"{DURATION}_sum", proto="tcp") > 0


def test_duration_buckets_grow_with_their_bound_up_to_the_count(server: GlobalDns) -> None:
    for _ in range(5):
        server.ask("foo.global")
    samples = scrape(server)
    buckets = [
        (float(s.labels["le"]), s.value)
        for s in samples
        if s.name == f"{DURATION}_bucket" and s.labels["proto"] == "udp"
    ]
    counts = [count for _, count in sorted(buckets)]
    assert counts == sorted(counts)
    assert counts[-1] == value(samples, f"{DURATION}_count", proto="udp") == 5


def test_build_info_names_the_version_and_python(server: GlobalDns) -> None:
    samples = scrape(server)
    info = value(samples, "globaldns_build_info", version=__version__)
    assert info == 1
    assert values(samples, "globaldns_build_info", python=platform.python_version()) == [1]


def test_process_and_python_metrics_are_exported(server: GlobalDns) -> None:
    samples = scrape(server)
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_start_time_seconds") > 0
    assert values(samples, "python_info", implementation=platform.python_implementation())
    assert values(samples, "python_gc_collections_total", generation="2")


def test_last_reload_success_moves_to_the_time_of_a_reload(server: GlobalDns) -> None:
    mesh = copy.deepcopy(example_mesh())
    mesh["services"][0]["instances"]["uswest2"]["ready"] = 1  # type: ignore[index]
    before = time.time()
    server.reload(mesh)
    stamp = value(scrape(server), "globaldns_last_reload_success_timestamp_seconds")
    assert before - 1 <= stamp <= time.time() + 1


def test_internal_errors_are_exported_and_zero_on_a_healthy_server(server: GlobalDns) -> None:
    server.ask("foo.global")
    assert value(scrape(server), "globaldns_internal_errors_total") == 0


def test_every_known_cluster_has_a_watch_error_counter(server: GlobalDns) -> None:
    samples = scrape(server)
    counters = {
        s.labels["target_cluster"]: s.value
        for s in samples
        if s.name == "globaldns_cluster_watch_errors_total"
    }
    assert counters == {"uswest2": 0, "uswest1": 0, "useast2": 0}


def test_answers_are_counted_under_the_tier_the_table_shows(server: GlobalDns) -> None:
    """Services and ServiceEntries: the tier label is the `tier` that `/table` and `table` show."""
    names = ["foo.global.", "checkout.global.", "httpbin.bar.global.", "legacy.db.global."]
    rows = json.loads(server.http("/table")[1])["names"]
    shown = Counter(next(row["tier"] for row in rows if row["name"] == name) for name in names)
    assert set(shown) == {"local", "remote", "entry"}
    before = _answers(server)
    for name in names:
        server.ask(name)
    after = _answers(server)
    assert +Counter({tier: int(after[tier] - before.get(tier, 0)) for tier in after}) == shown


def _answers(server: GlobalDns) -> dict[str, float]:
    return {
        s.labels["tier"]: s.value for s in scrape(server) if s.name == "globaldns_answers_total"
    }
