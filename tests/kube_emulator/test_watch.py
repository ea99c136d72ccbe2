"""watch: resume from a resourceVersion, initial state, selectors, bookmarks, server timeouts,
410 after compaction and abruptly dropped connections, through kubernetes_asyncio's Watch."""

import asyncio
import time

import aiohttp
import pytest
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.watch import Watch

from .kube_client import run


def config_map(cluster, name, labels=None, data=None):
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
        "data": data or {},
    }
    return cluster.control.put(cluster.name, body)[0]


async def first_events(api, count, **kwargs):
    """The first `count` events of a config map watch in `default`."""
    events = []
    async with Watch() as watch:
        stream = watch.stream(CoreV1Api(api).list_namespaced_config_map, "default", **kwargs)
        async for event in stream:
            events.append((event["type"], event["raw_object"]))
            if len(events) == count:
                break
    return events


def test_watch_from_a_resource_version_delivers_only_later_events(cluster):
    since = config_map(cluster, "before")["metadata"]["resourceVersion"]
    config_map(cluster, "after")

    events = run(cluster, lambda api: first_events(api, 1, resource_version=since))
    assert [(t, o["metadata"]["name"]) for t, o in events] == [("ADDED", "after")]


def test_watch_from_zero_lists_current_objects_as_added_then_streams_live_events(cluster):
    config_map(cluster, "existing")

    async def watch_and_write(api):
        watching = asyncio.create_task(first_events(api, 2, resource_version="0"))
        await asyncio.sleep(0.3)
        config_map(cluster, "existing", data={"k": "changed"})
        return await watching

    events = run(cluster, watch_and_write)
    assert [(t, o["metadata"]["name"]) for t, o in events] == [
        ("ADDED", "existing"),
        ("MODIFIED", "existing"),
    ]


def test_watch_resumes_with_modify_and_delete_in_resource_version_order(cluster):
    since = config_map(cluster, "x")["metadata"]["resourceVersion"]
    config_map(cluster, "x", data={"k": "1"})
    cluster.control.delete(cluster.name, "v1", "ConfigMap", "x", "default")

    events = run(cluster, lambda api: first_events(api, 2, resource_version=since))
    assert [t for t, _ in events] == ["MODIFIED", "DELETED"]
    versions = [int(o["metadata"]["resourceVersion"]) for _, o in events]
    assert versions == sorted(versions) and versions[0] > int(since)


def test_label_selector_turns_leaving_the_selection_into_deleted(cluster):
    since = config_map(cluster, "web", {"app": "web"})["metadata"]["resourceVersion"]
    config_map(cluster, "other", {"app": "db"})
    config_map(cluster, "web", {"app": "moved"})

    events = run(
        cluster,
        lambda api: first_events(api, 1, resource_version=since, label_selector="app=web"),
    )
    assert [(t, o["metadata"]["name"]) for t, o in events] == [("DELETED", "web")]


def test_bookmarks_carry_only_kind_api_version_and_resource_version(cluster):
    current = config_map(cluster, "x")["metadata"]["resourceVersion"]

    events = run(
        cluster,
        lambda api: first_events(
            api, 1, resource_version=current, allow_watch_bookmarks=True, timeout_seconds=10
        ),
    )
    kind, obj = events[0]
    assert kind == "BOOKMARK"
    assert obj == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": current},
    }


def test_no_bookmarks_unless_asked(cluster):
    current = config_map(cluster, "x")["metadata"]["resourceVersion"]

    events = run(
        cluster, lambda api: first_events(api, 1, resource_version=current, timeout_seconds=1)
    )
    assert events == []


def test_server_closes_the_stream_after_timeout_seconds(cluster):
    current = config_map(cluster, "x")["metadata"]["resourceVersion"]
    started = time.monotonic()

    events = run(
        cluster, lambda api: first_events(api, 1, resource_version=current, timeout_seconds=1)
    )
    assert events == []
    assert 0.9 <= time.monotonic() - started < 5


def test_watch_from_a_compacted_resource_version_is_an_error_event_410_expired(cluster):
    old = config_map(cluster, "x")["metadata"]["resourceVersion"]
    config_map(cluster, "x", data={"k": "1"})
    cluster.control.compact(cluster.name)

    async def watch_old(api):
        await first_events(api, 1, resource_version=old, timeout_seconds=5)

    with pytest.raises(ApiException) as raised:
        run(cluster, watch_old)
    assert raised.value.status == 410
    assert raised.value.reason.startswith("Expired")


def test_compaction_keeps_watches_from_the_current_resource_version_valid(cluster):
    config_map(cluster, "x")
    current = str(cluster.control.compact(cluster.name))
    config_map(cluster, "y")

    events = run(cluster, lambda api: first_events(api, 1, resource_version=current))
    assert [(t, o["metadata"]["name"]) for t, o in events] == [("ADDED", "y")]


def test_dropped_watch_ends_without_a_final_chunk_and_resumes_from_its_last_version(cluster):
    since = config_map(cluster, "x")["metadata"]["resourceVersion"]

    async def watch_through_a_drop(api):
        v1 = CoreV1Api(api)
        response = await v1.list_namespaced_config_map(
            "default", watch=True, resource_version=since, _preload_content=False
        )
        await asyncio.sleep(0.2)
        assert await asyncio.to_thread(cluster.control.drop_watches, cluster.name) == 1
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.content.readline()
        response.release()
        config_map(cluster, "missed")
        return await first_events(api, 1, resource_version=since)

    events = run(cluster, watch_through_a_drop)
    assert [(t, o["metadata"]["name"]) for t, o in events] == [("ADDED", "missed")]


def open_watches(cluster):
    return next(c["watches"] for c in cluster.control.clusters() if c["name"] == cluster.name)


def test_a_watch_closed_by_the_client_is_forgotten_by_the_server(cluster):
    async def open_then_close(api):
        response = await CoreV1Api(api).list_namespace(watch=True, _preload_content=False)
        await response.content.readline()
        opened = await asyncio.to_thread(open_watches, cluster)
        response.close()
        return opened

    assert run(cluster, open_then_close) == 1
    deadline = time.monotonic() + 5
    while open_watches(cluster) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_watches(cluster) == 0
