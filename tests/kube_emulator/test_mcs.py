"""The Multi-Cluster Services kinds (multicluster.x-k8s.io/v1alpha1 ServiceExport and
ServiceImport, as kubernetes-sigs/mcs-api defines them): installed unless removed, listed,
watched and written like any CRD, with their status written only through `/status`."""

import asyncio

from kubernetes_asyncio.client import ApisApi, CustomObjectsApi
from kubernetes_asyncio.watch import Watch

from .kube_client import error_of, run

GROUP, VERSION = "multicluster.x-k8s.io", "v1alpha1"


def service_import(name, ips, status=None):
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ServiceImport",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "ClusterSetIP", "ips": ips, "ports": [{"port": 80, "protocol": "TCP"}]},
    }
    if status is not None:
        body["status"] = status
    return body


def removed(cluster):
    for crd in ("serviceexports", "serviceimports"):
        cluster.control.set_crd(cluster.name, crd, False)


async def list_exports(api):
    return await CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, "default", "serviceexports"
    )


def test_without_the_crds_the_mcs_group_is_absent_from_discovery(cluster):
    removed(cluster)

    async def groups(api):
        return await ApisApi(api).get_api_versions()

    assert GROUP not in {group.name for group in run(cluster, groups).groups}


def test_without_the_crds_listing_service_exports_is_404(cluster):
    removed(cluster)
    status, body = error_of(cluster, list_exports)
    assert (status, body["reason"]) == (404, "NotFound")


def test_the_crds_list_both_kinds_with_a_status_subresource(cluster):

    async def resources(api):
        return await CustomObjectsApi(api).get_api_resources(GROUP, VERSION)

    listed = {r.name: r for r in run(cluster, resources).resources}
    assert listed["serviceexports"].kind == "ServiceExport"
    assert listed["serviceimports"].short_names == ["svcim"]
    assert set(listed) >= {"serviceimports/status", "serviceexports/status"}


def test_a_service_export_is_listed_and_watched(cluster):
    export = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ServiceExport",
        "metadata": {"name": "foo", "namespace": "default"},
    }
    cluster.control.put(cluster.name, export)

    async def watched(api):
        async with Watch() as watch:
            stream = watch.stream(
                CustomObjectsApi(api).list_namespaced_custom_object,
                GROUP,
                VERSION,
                "default",
                "serviceexports",
            )
            async for event in stream:
                return event["type"], event["object"]["metadata"]["name"]
        return None

    assert run(cluster, list_exports)["items"][0]["metadata"]["name"] == "foo"
    assert run(cluster, watched) == ("ADDED", "foo")


def test_a_write_to_a_service_import_keeps_its_status(cluster):
    cluster.control.put(cluster.name, service_import("foo", ["10.0.0.1"], {"clusters": []}))

    async def replace(api):
        body = service_import("foo", ["10.0.0.2"], {"clusters": [{"cluster": "forged"}]})
        return await CustomObjectsApi(api).replace_namespaced_custom_object(
            GROUP, VERSION, "default", "serviceimports", "foo", body
        )

    replaced = run(cluster, replace)
    assert replaced["spec"]["ips"] == ["10.0.0.2"]
    assert replaced["status"] == {"clusters": []}


def test_a_status_patch_changes_only_the_status(cluster):
    cluster.control.put(cluster.name, service_import("foo", ["10.0.0.1"]))

    async def patch(api):
        body = {"spec": {"ips": ["10.9.9.9"]}, "status": {"clusters": [{"cluster": "east"}]}}
        return await CustomObjectsApi(api).patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            "default",
            "serviceimports",
            "foo",
            body,
            _content_type="application/merge-patch+json",
        )

    patched = run(cluster, patch)
    assert patched["status"] == {"clusters": [{"cluster": "east"}]}
    assert patched["spec"]["ips"] == ["10.0.0.1"]


def test_removing_the_crd_ends_its_watches(cluster):

    async def watch_until_cut(api):
        async with Watch() as watch:
            stream = watch.stream(
                CustomObjectsApi(api).list_namespaced_custom_object,
                GROUP,
                VERSION,
                "default",
                "serviceimports",
                timeout_seconds=20,
            )
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, cluster.control.set_crd, cluster.name, "serviceimports", False)
            started = loop.time()
            async for _ in stream:
                pass
            return loop.time() - started

    assert run(cluster, watch_until_cut) < 10
