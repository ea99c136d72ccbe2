"""Stripping API objects to slim records at the edge: what is kept, what is dropped."""

from __future__ import annotations

import pytest

from globaldns.dns.wire import Unfit
from globaldns.sources.kubernetes.options import Selection
from globaldns.sources.kubernetes.slim import (
    Gateway,
    strip_endpoint_slice,
    strip_service,
    strip_service_entry,
)
from globaldns.table.model import Port
from tests.kubernetes.conftest import endpoints, gateway, service, service_entry

SELECTION = Selection(
    identity_label="identity",
    export_namespaces=frozenset(),
    exclude_namespaces=frozenset({"kube-system", "istio-system"}),
    export_selector="",
    gateway_services=("istio-system/istio-eastwestgateway",),
    zone="global",
)


def test_a_service_keeps_only_its_name_identity_ips_and_ports() -> None:
    obj = service("bar", "web", labels={"identity": "shop", "team": "x"})
    obj["spec"]["clusterIPs"] = ["10.96.0.5", "fd00::5"]
    key, slim = strip_service(obj, SELECTION)
    assert key == "bar/web"
    assert slim is not None
    assert (slim.identity, slim.cluster_ips, slim.ports) == (
        "shop",
        ("10.96.0.5", "fd00::5"),
        (Port("http", 80, "TCP"),),
    )


def test_a_service_in_an_excluded_namespace_is_dropped() -> None:
    assert strip_service(service("kube-system", "dns"), SELECTION)[1] is None


def test_a_service_failing_the_selector_is_dropped() -> None:
    selection = Selection(**{**SELECTION.__dict__, "export_selector": "export=yes,!private"})
    assert strip_service(service("bar", "a", {"export": "yes"}), selection)[1] is not None
    assert strip_service(service("bar", "b", {"export": "no"}), selection)[1] is None
    assert (
        strip_service(service("bar", "c", {"export": "yes", "private": ""}), selection)[1] is None
    )


def test_the_gateway_service_keeps_its_addresses_and_is_not_exported() -> None:
    obj = gateway(hostname="elb.example.com")
    obj["spec"]["externalIPs"] = ["198.51.100.1"]
    _, slim = strip_service(obj, SELECTION)
    assert slim is not None and not slim.exported
    assert slim.gateway == Gateway(("198.51.100.1",), ("elb.example.com",))


def test_an_endpoint_slice_counts_ready_endpoints_and_treats_unset_as_ready() -> None:
    obj = endpoints("bar", "web", True, False)
    obj["endpoints"].append({"addresses": ["10.244.0.30"], "conditions": {}})
    _, slim = strip_endpoint_slice(obj, SELECTION)
    assert slim is not None
    assert (slim.service, slim.ready) == ("bar/web", 2)
    assert slim.ready_addresses == ("10.244.0.10", "10.244.0.30")


def test_a_service_entry_keeps_only_zone_hosts_and_single_addresses() -> None:
    obj = service_entry(
        "e", ["a.global", "b.example.com", "c.d.GLOBAL."], ["240.0.0.1/32", "10.0.0.0/8"]
    )
    _, entry = strip_service_entry(obj, SELECTION)
    assert entry is not None
    assert (entry.hosts, entry.addresses) == (("a", "c.d"), ("240.0.0.1",))


@pytest.mark.parametrize(
    ("resolution", "addresses", "kept", "skipped"),
    [
        ("STATIC", ["240.0.0.1"], ("240.0.0.1",), None),
        ("DNS", ["240.0.0.1"], ("240.0.0.1",), None),
        ("NONE", ["240.0.0.1"], ("240.0.0.1",), Unfit.RESOLUTION_NONE),
        ("none", ["240.0.0.1"], ("240.0.0.1",), Unfit.RESOLUTION_NONE),
        ("STATIC", ["240.0.0.1/32", "fd00::1/128"], ("240.0.0.1", "fd00::1"), None),
        ("STATIC", ["240.0.0.0/24", "240.0.0.9"], ("240.0.0.9",), None),
        ("STATIC", ["240.0.0.0/24"], (), Unfit.WIDE_CIDR),
        ("STATIC", [], (), None),
        ("NONE", [], (), Unfit.RESOLUTION_NONE),
    ],
)
def test_which_service_entries_are_skipped_and_what_addresses_they_keep(
    resolution: str, addresses: list[str], kept: tuple[str, ...], skipped: Unfit | None
) -> None:
    obj = service_entry("e", ["e.global"], addresses)
    obj["spec"]["resolution"] = resolution
    _, entry = strip_service_entry(obj, SELECTION)
    assert entry is not None
    assert (entry.addresses, entry.skipped, entry.name) == (kept, skipped, "default/e")


def test_a_service_entry_without_zone_hosts_names_nothing_but_keeps_them_to_explain() -> None:
    obj = service_entry("e", ["b.example.com", "*.wild.example.com."], ["240.0.0.1"])
    _, entry = strip_service_entry(obj, SELECTION)
    assert entry is not None
    assert (entry.hosts, entry.outside) == ((), ("b.example.com.", "*.wild.example.com."))


def test_a_service_entry_with_no_dns_name_at_all_is_dropped() -> None:
    obj = service_entry("e", ["a..global", "bad_host!.example.com", "*", 7], ["240.0.0.1"])
    assert strip_service_entry(obj, SELECTION)[1] is None


@pytest.mark.parametrize(
    ("host", "kept"),
    [
        ("*.wild.global", "*.wild"),
        ("*.A.b.Global.", "*.a.b"),
        ("*.global", None),  # would answer every name the zone lacks
        ("a.*.wild.global", None),  # `*` only as the whole first label
        ("*x.wild.global", None),
        ("**.wild.global", None),
    ],
)
def test_a_wildcard_host_is_kept_only_as_the_first_label_below_a_name(
    host: str, kept: str | None
) -> None:
    _, entry = strip_service_entry(service_entry("e", [host], ["240.0.0.1"]), SELECTION)
    assert (entry.hosts if entry is not None else ()) == ((kept,) if kept else ())
