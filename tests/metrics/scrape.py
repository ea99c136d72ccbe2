"""A live server's /metrics, parsed by prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from harness import GlobalDns


def scrape(server: GlobalDns) -> list[Sample]:
    """Every sample the server exports now (the scrape must succeed and parse)."""
    status, body = server.http("/metrics")
    assert status == 200
    return [sample for family in text_string_to_metric_families(body) for sample in family.samples]


def values(samples: list[Sample], name: str, **labels: str) -> list[float]:
    """The values of `name`'s samples whose labels include `labels`."""
    return [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The one value of `name` with `labels`."""
    (only,) = values(samples, name, **labels)
    return only
