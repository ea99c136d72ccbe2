"""What a cluster's gateway Service makes of its Cluster (SPEC §2 "Gateway health"): the probe
port (its port named `tls`, else 15443) and readiness from its EndpointSlices, in process."""

from __future__ import annotations

from typing import Any

import pytest

from globaldns.sources.kubernetes.assemble import SERVICES, SLICES, ClusterView
from globaldns.sources.kubernetes.options import ClusterOverride
from globaldns.sources.kubernetes.slim import strip_endpoint_slice, strip_service
from globaldns.table.model import Cluster
from tests.kubernetes.conftest import endpoints, gateway
from tests.kubernetes.test_slim import SELECTION


class Clusters:
    """The Outbox side of a ClusterView: the last Cluster handed over."""

    def __init__(self) -> None:
        self.last: Cluster | None = None

    def put_cluster(self, cluster: Cluster) -> None:
        self.last = cluster

    def put_instance(self, *args: Any) -> None: ...

    def put_entry(self, *args: Any) -> None: ...

    def drop_cluster(self, *args: Any) -> None: ...

    def ready(self) -> bool:
        assert self.last is not None
        return self.last.gateway_ready


def view_with(*objects: dict[str, Any]) -> tuple[ClusterView, Clusters]:
    out = Clusters()
    outbox: Any = out  # stands in for the Outbox
    view = ClusterView("b", outbox, ClusterOverride(), SELECTION.gateway_services)
    for obj in objects:
        put(view, obj)
    return view, out


def put(view: ClusterView, obj: dict[str, Any]) -> None:
    if obj["kind"] == "Service":
        view.put(SERVICES, *strip_service(obj, SELECTION))
    else:
        view.put(SLICES, *strip_endpoint_slice(obj, SELECTION))


def gateway_with_ports(*ports: tuple[str, int]) -> dict[str, Any]:
    obj = gateway("127.0.9.1")
    obj["spec"]["ports"] = [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]
    return obj


@pytest.mark.parametrize(
    ("ports", "probe_port"),
    [
        ((("status-port", 15021), ("tls", 15443)), 15443),
        ((("tls", 8443),), 8443),
        ((("https", 443),), 15443),
        ((), 15443),
    ],
)
def test_gateways_are_probed_on_the_port_named_tls_else_15443(
    ports: tuple[tuple[str, int], ...], probe_port: int
) -> None:
    _, out = view_with(gateway_with_ports(*ports))
    assert out.last is not None and out.last.probe_port == probe_port


def test_a_gateway_service_without_slices_is_judged_by_probes_alone() -> None:
    _, out = view_with(gateway("127.0.9.1"))
    assert out.ready()


def test_gateway_slices_with_no_ready_endpoint_make_the_cluster_down_at_once() -> None:
    view, out = view_with(
        gateway("127.0.9.1"), endpoints("istio-system", "istio-eastwestgateway", True)
    )
    assert out.ready()
    put(view, endpoints("istio-system", "istio-eastwestgateway", False, False))
    assert not out.ready()
    put(view, endpoints("istio-system", "istio-eastwestgateway", False, True))
    assert out.ready()


def test_slices_of_other_services_in_the_gateway_namespace_stay_dropped() -> None:
    assert strip_endpoint_slice(endpoints("istio-system", "istiod", True), SELECTION)[1] is None


def test_a_gateway_with_several_slices_is_ready_while_any_lists_a_ready_endpoint() -> None:
    gateway_key = "istio-system/istio-eastwestgateway"
    unready = endpoints("istio-system", "istio-eastwestgateway", False)
    ready = endpoints("istio-system", "istio-eastwestgateway", True)
    ready["metadata"]["name"] = "istio-eastwestgateway-second"
    view, out = view_with(gateway("127.0.9.1"), unready)
    assert not out.ready()
    assert view.slices_of[gateway_key] == "istio-system/istio-eastwestgateway-slice"  # alone
    put(view, ready)
    assert out.ready() and len(view.slice_keys(gateway_key)) == 2
    view.put(SLICES, "istio-system/istio-eastwestgateway-second", None)
    assert not out.ready() and len(view.slice_keys(gateway_key)) == 1
