"""API objects of the wrong shape (what fuzz/fuzz_slim.py feeds in): a field of the wrong JSON
type counts as absent, and what DNS cannot carry is left out; a list or watch event that is not
a JSON object is refused as an undecodable body, never raised as a bug."""

from __future__ import annotations

import json
from typing import Any

import pytest

from globaldns.sources.kubernetes.bodies import UndecodableBody, page
from globaldns.sources.kubernetes.slim import (
    CREATED,
    strip_endpoint_slice,
    strip_namespace,
    strip_secret,
    strip_service,
    strip_service_entry,
)
from globaldns.sources.kubernetes.watch import Failed, Resource, ResourceWatch
from globaldns.table.model import Port
from tests.kubernetes.conftest import endpoints, service, service_entry
from tests.kubernetes.test_slim import SELECTION


def test_metadata_that_is_not_an_object_is_a_skip() -> None:
    assert strip_service({"metadata": ["web"], "spec": {}}, SELECTION) == ("", None)


def test_a_label_that_is_not_text_names_no_identity() -> None:
    obj = service("bar", "web", labels={"identity": 7})  # type: ignore[dict-item]
    _, slim = strip_service(obj, SELECTION)
    assert slim is not None and slim.identity is None
    assert (
        strip_namespace({"metadata": {"name": "bar", "labels": {"identity": []}}}, SELECTION)[1]
        is None
    )


def test_ports_out_of_range_or_not_numbers_are_left_out() -> None:
    obj = service("bar", "web", ports=(("a", 0), ("b", 70000), ("c", 80)))
    obj["spec"]["ports"] += [{"name": "d", "port": "81"}, {"name": "e", "port": True}, "f"]
    _, slim = strip_service(obj, SELECTION)
    assert slim is not None and slim.ports == (Port("c", 80, "TCP"),)


def test_a_port_name_that_cannot_own_an_srv_record_loses_its_name_not_its_port() -> None:
    obj = service("bar", "web", ports=(("x" * 63, 80), ("a.b", 81)))
    _, slim = strip_service(obj, SELECTION)
    assert slim is not None and slim.ports == (Port("", 80, "TCP"), Port("", 81, "TCP"))


def test_a_protocol_kubernetes_does_not_know_leaves_the_port_out() -> None:
    obj = service("bar", "web")
    obj["spec"]["ports"][0]["protocol"] = "_x._y"
    _, slim = strip_service(obj, SELECTION)
    assert slim is not None and slim.ports == ()


def test_cluster_ips_that_are_not_a_list_of_text_give_no_address() -> None:
    obj = service("bar", "web")
    obj["spec"]["clusterIPs"] = "None"  # not a list: not read as headless either
    _, slim = strip_service(obj, SELECTION)
    assert slim is not None and not slim.headless and slim.cluster_ips == ()


def test_a_service_entry_port_number_past_65535_is_left_out() -> None:
    # Istio's CRD takes any uint32, and an SRV record of port 70000 does not compile
    obj = service_entry("e", ["a.global"], ["240.0.0.1"])
    obj["spec"]["ports"] = [{"name": "big", "number": 70000}, {"name": "ok", "number": 80}]
    _, entry = strip_service_entry(obj, SELECTION)
    assert entry is not None and entry.ports == (Port("ok", 80, "TCP"),)


def test_a_service_entry_host_with_an_empty_label_is_left_out() -> None:
    # found by fuzz_slim: `a..global` was kept as the host `a.`
    obj = service_entry("e", ["a..global", "b.global", ".c.global."], ["240.0.0.1"])
    _, entry = strip_service_entry(obj, SELECTION)
    assert entry is not None and entry.hosts == ("b", "c")


def test_endpoints_of_the_wrong_shape_count_nothing() -> None:
    obj = endpoints("bar", "web", True)
    obj["endpoints"] += ["x", {"addresses": "10.0.0.1"}, {"addresses": [1, None]}]
    _, slim = strip_endpoint_slice(obj, SELECTION)
    assert slim is not None and slim.addresses == ("10.244.0.10",)


def test_secret_data_that_is_not_text_is_left_out() -> None:
    obj = {"metadata": {"name": "s"}, "data": {"a": {"b": 1}, "c": "Yw=="}}
    assert strip_secret(obj, SELECTION) == ("s", {"c": "Yw==", CREATED: ""})


def keep(obj: dict[str, Any]) -> tuple[str, Any]:
    return "key", obj


@pytest.mark.parametrize(
    "body",
    [b"[]", b'"items"', b"3", b"[" * 100_000 + b"]" * 100_000],
    ids=["array", "string", "number", "nested-past-the-stack"],
)
def test_a_list_body_that_is_not_a_json_object_is_undecodable(body: bytes) -> None:
    with pytest.raises(UndecodableBody):
        page(body, keep)


def test_list_items_and_metadata_of_the_wrong_shape_are_skipped() -> None:
    body = {"items": [1, "x", {"a": 1}], "metadata": {"continue": 5, "resourceVersion": ["7"]}}
    assert page(json.dumps(body).encode(), keep) == ({"key": {"a": 1}}, "", "")


class Feed:
    def __init__(self) -> None:
        self.puts: list[tuple[str, Any]] = []

    def put(self, kind: str, key: str, record: Any) -> None:
        self.puts.append((key, record))


def watch_of(feed: Feed) -> ResourceWatch:
    return ResourceWatch(None, Resource("x", ("/x",), keep), feed, 1.0, None, 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "event",
    [b"[]", b'{"type": "ADDED", "object": [1]}', b'{"type": "ADDED"}'],
    ids=["array", "object-not-an-object", "no-object"],
)
def test_a_watch_event_without_an_object_is_undecodable(event: bytes) -> None:
    with pytest.raises(UndecodableBody):
        watch_of(Feed())._event(event, "1")


def test_an_error_event_with_a_code_that_is_no_status_is_a_500() -> None:
    event = {"type": "ERROR", "object": {"code": "x", "message": {"a": 1}}}
    with pytest.raises(Failed) as failed:
        watch_of(Feed())._event(json.dumps(event).encode(), "1")
    assert failed.value.status == 500


def test_a_resource_version_that_is_not_text_keeps_the_last_one() -> None:
    feed = Feed()
    event = {"type": "ADDED", "object": {"metadata": {"resourceVersion": 9}}}
    assert watch_of(feed)._event(json.dumps(event).encode(), "1") == "1"
    assert feed.puts == [("key", event["object"])]
