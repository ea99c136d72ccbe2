"""What the exports feed refuses or leaves out, each with the hostile input itself: API objects
of the wrong shape, names DNS cannot carry, mesh files that say too little; and how exports of
one service that disagree combine (the oldest wins)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from globaldns.sources.kubernetes.mcs import export_of, strip_service_export
from globaldns.sources.kubernetes.mcs_imports import strip_import_slice, strip_service_import
from globaldns.sources.kubernetes.slim import SlimPod, strip_endpoint_slice, strip_service
from globaldns.sources.mesh_file import MeshError, parse
from globaldns.table.clusterset.exports import Exports
from globaldns.table.model import Export, Port, ServiceKind
from tests.kubernetes.conftest import service
from tests.kubernetes.test_slim import SELECTION


def export_object(namespace: str = "bar", created: Any = "2026-12-07T10:00:00Z") -> dict:
    meta = {"name": "web", "namespace": namespace, "creationTimestamp": created}
    return {
        "apiVersion": "multicluster.x-k8s.io/v1alpha1",
        "kind": "ServiceExport",
        "metadata": meta,
    }


def slice_with(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "db-1",
            "namespace": "bar",
            "labels": {"kubernetes.io/service-name": "db"},
        },
        "endpoints": [{"addresses": ["10.1.0.1"], "conditions": {"ready": True}, **endpoint}],
    }


@pytest.mark.parametrize("created", ["yesterday", 1733565600, None, "9" * 10_000, ["x"]])
def test_an_export_whose_creation_time_cannot_be_read_counts_as_the_newest(created: Any) -> None:
    _, slim = strip_service_export(export_object(created=created), SELECTION)
    assert slim is not None and slim.since == math.inf


def test_an_export_in_a_namespace_whose_services_are_not_exported_is_a_skip() -> None:
    assert strip_service_export(export_object("kube-system"), SELECTION)[1] is None


def test_an_export_whose_metadata_is_not_an_object_is_a_skip() -> None:
    assert strip_service_export({"metadata": "web"}, SELECTION)[1] is None


@pytest.mark.parametrize(
    "endpoint",
    [
        {"hostname": "Not_A_Label!"},
        {"hostname": "x" * 64},
        {"hostname": 7},
        {"targetRef": {"kind": "Node", "name": "node-1"}},
        {"targetRef": "db-0"},
    ],
)
def test_an_endpoint_without_a_dns_label_for_a_name_has_no_per_pod_name(
    endpoint: dict[str, Any],
) -> None:
    _, slim = strip_endpoint_slice(slice_with(endpoint), SELECTION)
    assert slim is not None and slim.pods == () and slim.ready_addresses == ("10.1.0.1",)


def test_an_endpoint_without_a_hostname_is_named_by_its_pod() -> None:
    _, slim = strip_endpoint_slice(
        slice_with({"targetRef": {"kind": "Pod", "name": "Db-0"}}), SELECTION
    )
    assert slim is not None and slim.pods == (SlimPod("db-0", ("10.1.0.1",)),)


def test_a_service_not_exported_by_the_selection_exports_nothing() -> None:
    _, slim = strip_service(service("kube-system", "dns"), SELECTION)
    _, export = strip_service_export(export_object("bar"), SELECTION)
    assert export_of(slim, [], export, "dns.kube-system") is None


MESH: dict[str, Any] = {"clusters": [{"name": "a"}], "localCluster": "a"}


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ({"name": "web", "export": True}, "give the namespace"),
        ({"name": "web.bar", "export": {"headless": "yes"}}, "must be true or false"),
        ({"name": "web.bar", "export": {"zone": "x"}}, "unknown key"),
        ({"name": "web.bar", "export": {"namespace": "a.b"}}, "give the namespace"),
        (
            {
                "name": "db.bar",
                "export": {"headless": True},
                "instances": {"a": {"endpoints": [{"hostname": "DB 0", "addresses": []}]}},
            },
            "must be a DNS label",
        ),
    ],
)
def test_a_mesh_export_that_cannot_be_served_is_refused_with_where(
    item: dict[str, Any], says: str
) -> None:
    with pytest.raises(MeshError, match=says) as raised:
        parse({**MESH, "services": [item]}, "mesh.yaml")
    assert "services[0]" in str(raised.value)


def _export(kind: ServiceKind, since: float, *ports: Port) -> Export:
    return Export("web", "bar", "web.bar", kind, ("10.0.0.1",), 1, ports, (), since)


def test_the_oldest_export_decides_the_type_and_the_other_type_is_left_out() -> None:
    exports = Exports()
    exports.put("young", "bar/web", _export(ServiceKind.HEADLESS, 20.0))
    exports.put("old", "bar/web", _export(ServiceKind.CLUSTERSET_IP, 10.0))
    combined = exports.combined("web.bar")
    assert combined is not None
    assert (combined.kind, list(combined.used)) == (ServiceKind.CLUSTERSET_IP, ["old"])
    assert "young exports it Headless" in combined.conflicts[0]


def test_ports_are_the_union_and_the_oldest_wins_a_port_both_name() -> None:
    exports = Exports()
    exports.put("b", "bar/web", _export(ServiceKind.CLUSTERSET_IP, 5.0, Port("http", 8080)))
    exports.put("a", "bar/web", _export(ServiceKind.CLUSTERSET_IP, 5.0, Port("http", 80),
                                        Port("grpc", 9000)))  # fmt: skip
    combined = exports.combined("web.bar")
    assert combined is not None  # same time: the cluster name that sorts first is older
    assert combined.ports == (Port("http", 80), Port("grpc", 9000))
    assert len(combined.conflicts) == 1


@pytest.mark.parametrize("cluster", ["", "east_1", "x" * 64, 7, "东", "-east", "east-"])
def test_an_imported_slice_whose_source_cluster_is_no_dns_label_is_a_skip(cluster: Any) -> None:
    obj = slice_with({"hostname": "db-0"})
    obj["metadata"]["labels"] = {
        "multicluster.kubernetes.io/service-name": "db",
        "multicluster.kubernetes.io/source-cluster": cluster,
    }
    assert strip_import_slice(obj, SELECTION)[1] is None


def test_an_imports_spec_ips_that_are_not_addresses_are_left_out() -> None:
    obj = {
        "metadata": {"name": "web", "namespace": "bar"},
        "spec": {"type": "ClusterSetIP", "ips": ["240.1.0.7", "not-an-ip", 7, "::ffff:zz"]},
    }
    _, slim = strip_service_import(obj, SELECTION)
    assert slim is not None and slim.cluster_ips == ("240.1.0.7",)
