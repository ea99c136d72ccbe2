"""Discovery documents, and the ServiceEntry CRD appearing and disappearing per cluster."""

from kubernetes_asyncio.client import ApisApi, CoreApi, CustomObjectsApi, VersionApi
from kubernetes_asyncio.dynamic import DynamicClient

from .kube_client import error_of, run


def group_names(cluster):
    async def groups(api):
        return await ApisApi(api).get_api_versions()

    return {group.name for group in run(cluster, groups).groups}


def test_core_api_versions_list_v1(cluster):
    async def versions(api):
        return await CoreApi(api).get_api_versions()

    assert run(cluster, versions).versions == ["v1"]


def test_version_reports_a_kubernetes_release(cluster):
    async def version(api):
        return await VersionApi(api).get_code()

    info = run(cluster, version)
    assert (info.major, info.git_version[:2]) == ("1", "v1")


def test_api_groups_include_every_emulated_group(cluster):
    assert {
        "apps",
        "discovery.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "networking.istio.io",
    } <= group_names(cluster)


def test_dynamic_client_finds_resources_with_kind_verbs_and_scope(cluster):
    async def find(api):
        client = await DynamicClient(api)
        slices = await client.resources.get(api_version="discovery.k8s.io/v1", kind="EndpointSlice")
        nodes = await client.resources.get(api_version="v1", kind="Node")
        entries = await client.resources.get(
            api_version="networking.istio.io/v1beta1", kind="ServiceEntry"
        )
        return slices, nodes, entries

    slices, nodes, entries = run(cluster, find)
    assert (slices.name, slices.namespaced) == ("endpointslices", True)
    assert "watch" in slices.verbs
    assert nodes.namespaced is False
    assert entries.name == "serviceentries"


def test_without_the_crd_service_entries_are_absent_from_discovery(cluster):
    cluster.control.set_service_entries(cluster.name, False)
    assert "networking.istio.io" not in group_names(cluster)


def test_without_the_crd_service_entry_paths_are_404(cluster):
    cluster.control.set_service_entries(cluster.name, False)

    async def list_entries(api):
        await CustomObjectsApi(api).list_namespaced_custom_object(
            "networking.istio.io", "v1", "default", "serviceentries"
        )

    status, body = error_of(cluster, list_entries)
    assert (status, body["reason"]) == (404, "NotFound")


def test_installing_the_crd_serves_its_paths_again(cluster):
    cluster.control.set_service_entries(cluster.name, False)
    cluster.control.set_service_entries(cluster.name, True)

    async def list_entries(api):
        return await CustomObjectsApi(api).list_namespaced_custom_object(
            "networking.istio.io", "v1beta1", "default", "serviceentries"
        )

    assert run(cluster, list_entries)["kind"] == "ServiceEntryList"
