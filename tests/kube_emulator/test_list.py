"""list: selectors, all-namespaces paths, limit/continue paging and its 410 after compaction."""

import pytest
from kubernetes_asyncio.client import CoreV1Api, DiscoveryV1Api

from .kube_client import error_of, run

LABELS = {
    "a": {"app": "web", "tier": "front"},
    "b": {"app": "web", "tier": "back"},
    "c": {"app": "db"},
    "d": {},
}


def seed_config_maps(cluster, namespace="default"):
    cluster.control.put(
        cluster.name,
        *(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
            }
            for name, labels in LABELS.items()
        ),
    )


def names_listed(cluster, **query):
    async def list_config_maps(api):
        return await CoreV1Api(api).list_namespaced_config_map("default", **query)

    return [item.metadata.name for item in run(cluster, list_config_maps).items]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b"]),
        ("app==db", ["c"]),
        ("app!=web", ["c", "d"]),
        ("tier in (front, middle)", ["a"]),
        ("tier notin (front)", ["b", "c", "d"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d"]),
        ("app=web,tier!=front", ["b"]),
    ],
)
def test_label_selector_filters_the_list(cluster, selector, expected):
    seed_config_maps(cluster)
    assert names_listed(cluster, label_selector=selector) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [("metadata.name=c", ["c"]), ("metadata.name!=c", ["a", "b", "d"])],
)
def test_field_selector_on_name_filters_the_list(cluster, selector, expected):
    seed_config_maps(cluster)
    assert names_listed(cluster, field_selector=selector) == expected


def test_invalid_label_selector_is_400(cluster):
    async def bad_list(api):
        await CoreV1Api(api).list_namespaced_config_map("default", label_selector="a in b")

    assert error_of(cluster, bad_list)[0] == 400


def test_all_namespaces_list_spans_namespaces_and_filters_by_namespace_field(cluster):
    seed_config_maps(cluster, "default")
    seed_config_maps(cluster, "kube-public")

    async def lists(api):
        v1 = CoreV1Api(api)
        every = await v1.list_config_map_for_all_namespaces()
        public = await v1.list_config_map_for_all_namespaces(
            field_selector="metadata.namespace=kube-public"
        )
        return every, public

    every, public = run(cluster, lists)
    assert len(every.items) == 8
    assert {item.metadata.namespace for item in public.items} == {"kube-public"}


def test_list_resource_version_is_the_clusters_current_one(cluster):
    seed_config_maps(cluster)
    current = next(c["rv"] for c in cluster.control.clusters() if c["name"] == cluster.name)

    async def list_slices(api):
        return await DiscoveryV1Api(api).list_endpoint_slice_for_all_namespaces()

    assert run(cluster, list_slices).metadata.resource_version == str(current)


def test_limit_and_continue_page_through_every_item_once(cluster):
    seed_config_maps(cluster)

    async def all_pages(api):
        v1 = CoreV1Api(api)
        names, token, pages = [], None, 0
        while True:
            page = await v1.list_namespaced_config_map("default", limit=3, _continue=token)
            names += [item.metadata.name for item in page.items]
            pages += 1
            token = page.metadata._continue
            if not token:
                return names, pages

    names, pages = run(cluster, all_pages)
    assert names == ["a", "b", "c", "d"]
    assert pages == 2


def test_continue_token_older_than_compaction_is_410_expired(cluster):
    seed_config_maps(cluster)

    async def first_page(api):
        return await CoreV1Api(api).list_namespaced_config_map("default", limit=1)

    token = run(cluster, first_page).metadata._continue
    seed_config_maps(cluster, "kube-public")
    cluster.control.compact(cluster.name)

    async def next_page(api):
        await CoreV1Api(api).list_namespaced_config_map("default", limit=1, _continue=token)

    status, body = error_of(cluster, next_page)
    assert status == 410
    assert body["reason"] == "Expired"
