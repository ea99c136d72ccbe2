"""get / create / update / patch / delete with the real client, and their Status errors."""

import ipaddress

import pytest
from kubernetes_asyncio.client import CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api

from .kube_client import error_of, run


def config_map(name, data=None, namespace="default"):
    return {"metadata": {"name": name, "namespace": namespace}, "data": data or {"k": "v"}}


def test_create_sets_uid_creation_timestamp_generation_and_resource_version(cluster):
    async def create(api):
        return await CoreV1Api(api).create_namespaced_config_map("default", config_map("a"))

    created = run(cluster, create)
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    assert created.metadata.generation == 1
    assert int(created.metadata.resource_version) > 0


def test_every_write_increases_the_resource_version(cluster):
    async def writes(api):
        v1 = CoreV1Api(api)
        first = await v1.create_namespaced_config_map("default", config_map("a"))
        second = await v1.create_namespaced_config_map("default", config_map("b"))
        third = await v1.patch_namespaced_config_map("a", "default", {"data": {"k": "w"}})
        return [int(o.metadata.resource_version) for o in (first, second, third)]

    versions = run(cluster, writes)
    assert versions == sorted(versions)
    assert len(set(versions)) == 3


def test_create_of_an_existing_name_is_409_already_exists(cluster):
    async def create_twice(api):
        v1 = CoreV1Api(api)
        await v1.create_namespaced_config_map("default", config_map("a"))
        await v1.create_namespaced_config_map("default", config_map("a"))

    status, body = error_of(cluster, create_twice)
    assert status == 409
    assert body["reason"] == "AlreadyExists"


def test_get_of_a_missing_object_is_404_not_found_status(cluster):
    async def get(api):
        await CoreV1Api(api).read_namespaced_config_map("nope", "default")

    status, body = error_of(cluster, get)
    assert status == 404
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"
    assert body["details"]["name"] == "nope"


def test_create_in_a_missing_namespace_is_404(cluster):
    async def create(api):
        await CoreV1Api(api).create_namespaced_config_map("absent", config_map("a", None, "absent"))

    status, body = error_of(cluster, create)
    assert status == 404
    assert body["message"] == 'namespaces "absent" not found'


def test_update_with_a_stale_resource_version_is_409_conflict(cluster):
    async def stale_update(api):
        v1 = CoreV1Api(api)
        stale = await v1.create_namespaced_config_map("default", config_map("a"))
        await v1.patch_namespaced_config_map("a", "default", {"data": {"k": "newer"}})
        stale.data = {"k": "lost update"}
        await v1.replace_namespaced_config_map("a", "default", stale)

    status, body = error_of(cluster, stale_update)
    assert status == 409
    assert body["reason"] == "Conflict"


def test_update_with_the_current_resource_version_replaces_the_object(cluster):
    async def update(api):
        v1 = CoreV1Api(api)
        current = await v1.create_namespaced_config_map("default", config_map("a"))
        current.data = {"k": "replaced"}
        await v1.replace_namespaced_config_map("a", "default", current)
        return await v1.read_namespaced_config_map("a", "default")

    assert run(cluster, update).data == {"k": "replaced"}


@pytest.mark.parametrize(
    "content_type", ["application/merge-patch+json", "application/strategic-merge-patch+json"]
)
def test_merge_patches_merge_maps_and_delete_null_keys(cluster, content_type):
    async def patch(api):
        v1 = CoreV1Api(api)
        await v1.create_namespaced_config_map("default", config_map("a", {"k": "v", "x": "y"}))
        body = {"data": {"k": "patched", "x": None, "new": "1"}}
        return await v1.patch_namespaced_config_map(
            "a", "default", body, _content_type=content_type
        )

    assert run(cluster, patch).data == {"k": "patched", "new": "1"}


def test_json_patch_applies_operations_in_order(cluster):
    async def patch(api):
        v1 = CoreV1Api(api)
        await v1.create_namespaced_config_map("default", config_map("a", {"k": "v"}))
        operations = [
            {"op": "test", "path": "/data/k", "value": "v"},
            {"op": "add", "path": "/data/added", "value": "1"},
            {"op": "remove", "path": "/data/k"},
        ]
        return await v1.patch_namespaced_config_map(
            "a", "default", operations, _content_type="application/json-patch+json"
        )

    assert run(cluster, patch).data == {"added": "1"}


def test_apply_patch_creates_an_absent_object_then_merges_fields(cluster):
    async def apply_twice(api):
        v1 = CoreV1Api(api)
        first = {"apiVersion": "v1", "kind": "ConfigMap", **config_map("a", {"k": "v"})}
        await v1.patch_namespaced_config_map(
            "a", "default", first, field_manager="t", _content_type="application/apply-patch+yaml"
        )
        second = {"apiVersion": "v1", "kind": "ConfigMap", **config_map("a", {"more": "1"})}
        return await v1.patch_namespaced_config_map(
            "a", "default", second, field_manager="t", _content_type="application/apply-patch+yaml"
        )

    assert run(cluster, apply_twice).data == {"k": "v", "more": "1"}


def test_apply_patch_without_field_manager_is_400(cluster):
    async def apply(api):
        body = {"apiVersion": "v1", "kind": "ConfigMap", **config_map("a")}
        await CoreV1Api(api).patch_namespaced_config_map(
            "a", "default", body, _content_type="application/apply-patch+yaml"
        )

    assert error_of(cluster, apply)[0] == 400


def test_delete_removes_the_object(cluster):
    async def delete_then_get(api):
        v1 = CoreV1Api(api)
        await v1.create_namespaced_config_map("default", config_map("a"))
        await v1.delete_namespaced_config_map("a", "default")
        await v1.read_namespaced_config_map("a", "default")

    assert error_of(cluster, delete_then_get)[0] == 404


def test_services_get_distinct_cluster_ips_when_none_is_given(cluster):
    async def create(api):
        v1 = CoreV1Api(api)
        return [
            await v1.create_namespaced_service(
                "default", {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}
            )
            for name in ("s1", "s2")
        ]

    first, second = run(cluster, create)
    assert first.spec.cluster_ip != second.spec.cluster_ip
    assert ipaddress.ip_address(first.spec.cluster_ip) in ipaddress.ip_network("10.96.0.0/11")
    assert first.spec.cluster_ips == [first.spec.cluster_ip]


def test_headless_service_keeps_cluster_ip_none(cluster):
    async def create(api):
        body = {"metadata": {"name": "s"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}
        return await CoreV1Api(api).create_namespaced_service("default", body)

    assert run(cluster, create).spec.cluster_ip == "None"


def test_cluster_scoped_rbac_objects_have_no_namespace(cluster):
    async def create(api):
        body = {"metadata": {"name": "reader"}, "rules": []}
        return await RbacAuthorizationV1Api(api).create_cluster_role(body)

    assert run(cluster, create).metadata.namespace is None


def test_a_service_entry_is_the_same_object_through_v1_and_v1beta1(cluster):
    async def create_v1_read_v1beta1(api):
        custom = CustomObjectsApi(api)
        body = {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": "legacy"},
            "spec": {"hosts": ["legacy.db.global"], "addresses": ["240.0.0.2"]},
        }
        await custom.create_namespaced_custom_object(
            "networking.istio.io", "v1", "default", "serviceentries", body
        )
        return await custom.get_namespaced_custom_object(
            "networking.istio.io", "v1beta1", "default", "serviceentries", "legacy"
        )

    seen = run(cluster, create_v1_read_v1beta1)
    assert seen["apiVersion"] == "networking.istio.io/v1beta1"
    assert seen["spec"]["hosts"] == ["legacy.db.global"]


def test_dry_run_create_returns_the_object_without_storing_it(cluster):
    async def dry_run_then_get(api):
        v1 = CoreV1Api(api)
        await v1.create_namespaced_config_map("default", config_map("a"), dry_run="All")
        await v1.read_namespaced_config_map("a", "default")

    assert error_of(cluster, dry_run_then_get)[0] == 404


def test_generate_name_gets_a_random_suffix(cluster):
    async def create(api):
        body = {"metadata": {"generateName": "job-"}}
        return await CoreV1Api(api).create_namespaced_config_map("default", body)

    name = run(cluster, create).metadata.name
    assert name.startswith("job-")
    assert len(name) == len("job-") + 5


def test_deleting_a_namespace_deletes_the_objects_in_it(cluster):
    async def create_then_delete_namespace(api):
        v1 = CoreV1Api(api)
        await v1.create_namespace({"metadata": {"name": "team"}})
        await v1.create_namespaced_config_map("team", config_map("a", None, "team"))
        await v1.delete_namespace("team")
        return await v1.list_config_map_for_all_namespaces(field_selector="metadata.namespace=team")

    assert run(cluster, create_then_delete_namespace).items == []


def test_posting_to_an_all_namespaces_path_is_405(cluster):
    async def post(api):
        await api.call_api(
            "/api/v1/configmaps", "POST", body=config_map("a"), auth_settings=["BearerToken"]
        )

    assert error_of(cluster, post)[0] == 405


def test_delete_with_a_uid_precondition_of_another_object_is_409_and_deletes_nothing(cluster):
    async def delete_stale(api):
        v1 = CoreV1Api(api)
        await v1.create_namespaced_config_map("default", config_map("a"))
        options = {"preconditions": {"uid": "not-its-uid"}}
        await v1.delete_namespaced_config_map("a", "default", body=options)

    async def read(api):
        return await CoreV1Api(api).read_namespaced_config_map("a", "default")

    status, body = error_of(cluster, delete_stale)
    assert status == 409 and "Precondition failed: uid" in body["message"]
    assert run(cluster, read).metadata.name == "a"
