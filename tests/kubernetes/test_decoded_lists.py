"""Lists of Services and EndpointSlices decoded by msgspec straight into structs: whatever a
page holds, it reads exactly as its dicts do, and a value of the wrong type costs only its own
object the fast way."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from globaldns.sources.kubernetes.bodies import UndecodableBody, page
from globaldns.sources.kubernetes.mcs_imports import (
    SERVICE_LABEL,
    SOURCE_LABEL,
    decode_import_slice,
    strip_import_slice,
)
from globaldns.sources.kubernetes.slim import (
    decode_endpoint_slice,
    decode_service,
    strip_endpoint_slice,
    strip_service,
)
from globaldns.table.model import Port
from tests.kubernetes.conftest import endpoints, gateway, service
from tests.kubernetes.test_slim import SELECTION

# Each kind's strip of a dict and decode of bytes, as `cluster.resources` binds them.
SERVICES = (
    partial(strip_service, selection=SELECTION),
    partial(decode_service, selection=SELECTION),
)
SLICES = (
    partial(strip_endpoint_slice, selection=SELECTION),
    partial(decode_endpoint_slice, selection=SELECTION),
)
IMPORT_SLICES = (
    partial(strip_import_slice, selection=SELECTION),
    partial(decode_import_slice, selection=SELECTION),
)
Kind = tuple[Any, Any]

# Any JSON value, NaN and numbers past 64 bits among them: what may stand where a field is.
_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _either(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the value of the right type, sometimes any JSON at all."""
    return st.one_of(right, right, right, _json)


def _object(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with any of these fields, each maybe of the wrong type."""
    return st.fixed_dictionaries({}, optional={k: _either(v) for k, v in fields.items()})


_names = st.sampled_from(["bar", "web", "istio-system", "istio-eastwestgateway", "Bad.x", ""])
_ips = st.sampled_from(["10.0.0.1", "2001:DB8::1", "010.0.0.1", "None", "x", ""])
_labels = st.dictionaries(
    st.sampled_from(
        [
            "identity",
            "app",
            "kubernetes.io/service-name",
            "multicluster.kubernetes.io/service-name",
            "multicluster.kubernetes.io/source-cluster",
        ]
    ),
    _either(_names),
)
_meta = _object(name=_names, namespace=_names, labels=_labels)
_port = _object(
    name=st.sampled_from(["http", "tls", "A.b", ""]),
    port=st.integers(-1, 70_000),
    protocol=st.sampled_from(["TCP", "UDP", "SCTP", "x", ""]),
)
_services = _object(
    metadata=_meta,
    spec=_object(
        type=st.sampled_from(["ClusterIP", "ExternalName", "LoadBalancer"]),
        clusterIP=_ips,
        clusterIPs=st.lists(_either(_ips), max_size=3),
        externalIPs=st.lists(_either(_ips), max_size=2),
        ports=st.lists(_either(_port), max_size=3),
    ),
    status=_object(
        loadBalancer=_object(
            ingress=st.lists(_either(_object(ip=_ips, hostname=_names)), max_size=2)
        )
    ),
)
_endpoint = _object(
    addresses=st.lists(_either(_ips), max_size=3),
    conditions=_object(ready=st.booleans() | st.none()),
    hostname=_names,
    targetRef=_object(kind=st.sampled_from(["Pod", "Node"]), name=_names),
)
_slices = _object(metadata=_meta, endpoints=st.lists(_either(_endpoint), max_size=3) | st.none())


def _imported(obj: dict[str, Any]) -> dict[str, Any]:
    """The slice as an MCS implementation labels it for the imports feed."""
    labels = {SERVICE_LABEL: "web", SOURCE_LABEL: "east-1"}
    return {**obj, "metadata": {**obj["metadata"], "labels": labels}}


def _body(items: list[Any], **metadata: Any) -> bytes:
    return json.dumps({"metadata": metadata, "items": items}).encode()


def _read(kind: Kind, body: bytes, decoded: bool = True) -> Any:
    """The page, decoded by msgspec or read by `json` into dicts, or the refusal's class."""
    strip, decode = kind
    try:
        return page(body, strip, decode if decoded else None)
    except UndecodableBody as err:
        return type(err)


@given(st.lists(_either(_services), max_size=4))
def test_a_page_of_services_decodes_as_its_dicts_read(items: list[Any]) -> None:
    body = _body(items, resourceVersion="7")
    assert _read(SERVICES, body) == _read(SERVICES, body, decoded=False)


@pytest.mark.parametrize("kind", [SLICES, IMPORT_SLICES], ids=["slices", "import-slices"])
@given(items=st.lists(_either(_slices), max_size=4))
def test_a_page_of_endpoint_slices_decodes_as_its_dicts_read(kind: Kind, items: list[Any]) -> None:
    body = _body(items, resourceVersion="7")
    assert _read(kind, body) == _read(kind, body, decoded=False)


@pytest.mark.parametrize(
    ("decode", "obj"),
    [
        (decode_service, service("bar", "web", labels={"identity": "w"})),
        (decode_service, gateway("192.0.2.1")),
        (decode_endpoint_slice, endpoints("bar", "web", True, False)),
        (decode_import_slice, _imported(endpoints("bar", "web", True, False))),
    ],
    ids=["service", "gateway", "slice", "import-slice"],
)
def test_an_object_kubernetes_writes_is_decoded_without_its_dict(decode: Any, obj: Any) -> None:
    # No msgspec.DecodeError: the fast way, and the record its dict gives.
    key, record = decode(json.dumps(obj).encode(), SELECTION)
    assert record is not None
    strip = STRIPS[decode]
    assert (key, record) == strip(obj, SELECTION)


STRIPS = {
    decode_service: strip_service,
    decode_endpoint_slice: strip_endpoint_slice,
    decode_import_slice: strip_import_slice,
}


def test_a_value_of_the_wrong_type_fails_the_fast_way_for_its_object_only() -> None:
    wrong = service("bar", "api")
    wrong["spec"]["ports"][0]["port"] = "80"  # text where Kubernetes writes a number
    with pytest.raises(msgspec.DecodeError):
        decode_service(json.dumps(wrong).encode(), SELECTION)
    body = _body([service("bar", "web"), wrong], resourceVersion="9", **{"continue": "c"})
    records, token, version = page(body, *SERVICES)
    assert (token, version) == ("c", "9")
    assert records["bar/web"].ports == (Port("http", 80, "TCP"),)
    assert records["bar/api"].ports == ()  # read as its dict: the port is left out


def test_a_slice_of_no_endpoints_written_as_null_is_decoded_without_its_dict() -> None:
    obj = {**endpoints("bar", "web"), "endpoints": None}
    _, record = decode_endpoint_slice(json.dumps(obj).encode(), SELECTION)
    assert record is not None and record.ready == 0 and record.addresses == ()


def test_a_page_that_is_not_utf8_where_msgspec_skips_is_refused_as_json_refuses_it() -> None:
    body = b'{"items": [{"metadata": {"name": "web", "namespace": "bar"}, "x": "\xff"}]}'
    with pytest.raises(UndecodableBody):
        page(body, *SERVICES)
