"""The control API: outages, injected faults, the request log and cluster membership."""

import asyncio
import base64
import json

import aiohttp
import pytest
import yaml
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from harness.kube_emulator import ControlError

from .kube_client import error_of, run


async def list_namespaces(api):
    return await CoreV1Api(api).list_namespace()


async def create_config_map(api, name="a"):
    body = {"metadata": {"name": name}, "data": {"k": "v"}}
    return await CoreV1Api(api).create_namespaced_config_map("default", body)


def test_a_cluster_that_is_down_refuses_connections(cluster):
    cluster.control.down(cluster.name)
    with pytest.raises(aiohttp.ClientConnectorError):
        run(cluster, list_namespaces)


def test_a_cluster_comes_back_up_on_the_same_port_with_its_objects(cluster):
    run(cluster, create_config_map)
    port = next(c["port"] for c in cluster.control.clusters() if c["name"] == cluster.name)
    cluster.control.down(cluster.name)
    cluster.control.up(cluster.name)

    async def read(api):
        return await CoreV1Api(api).read_namespaced_config_map("a", "default")

    assert run(cluster, read).metadata.name == "a"
    assert next(c["port"] for c in cluster.control.clusters() if c["name"] == cluster.name) == port


def test_going_down_breaks_an_open_watch(cluster):
    async def watch_through_outage(api):
        response = await CoreV1Api(api).list_namespace(watch=True, _preload_content=False)
        await response.content.readline()
        await asyncio.to_thread(cluster.control.down, cluster.name)
        with pytest.raises(aiohttp.ClientPayloadError):
            while await response.content.readline():
                pass

    run(cluster, watch_through_outage)


def test_injected_forbidden_answers_403_for_that_resource_and_verb_only(cluster):
    cluster.control.forbid(cluster.name, "configmaps", "create")
    status, body = error_of(cluster, create_config_map)
    assert (status, body["reason"]) == (403, "Forbidden")
    assert run(cluster, list_namespaces).items


def test_injected_conflicts_fail_the_next_n_writes_to_that_object(cluster):
    run(cluster, create_config_map)
    cluster.control.conflict_next(cluster.name, "configmaps", "a", "default", count=2)

    async def patch(api):
        return await CoreV1Api(api).patch_namespaced_config_map("a", "default", {"data": {}})

    assert error_of(cluster, patch)[1]["reason"] == "Conflict"
    assert error_of(cluster, patch)[0] == 409
    assert run(cluster, patch).metadata.name == "a"


def test_cleared_faults_no_longer_apply(cluster):
    cluster.control.forbid(cluster.name, "configmaps")
    cluster.control.clear_faults(cluster.name)
    assert run(cluster, create_config_map).metadata.name == "a"


def test_injected_delay_holds_every_response(cluster):
    cluster.control.delay(cluster.name, 2.0)
    with pytest.raises(TimeoutError):
        run(cluster, list_namespaces, timeout=0.5)


@pytest.mark.parametrize(
    ("code", "reason"), [(429, "TooManyRequests"), (503, "ServiceUnavailable")]
)
def test_an_injected_status_answers_every_request_with_its_retry_after(cluster, code, reason):
    cluster.control.fail(cluster.name, code, retry_after=7)
    with pytest.raises(ApiException) as raised:
        run(cluster, list_namespaces)
    body = json.loads(raised.value.body)
    assert (raised.value.status, body["reason"]) == (code, reason)
    assert raised.value.headers["Retry-After"] == "7"
    assert body["details"]["retryAfterSeconds"] == 7


def test_a_hung_cluster_answers_nothing_until_the_fault_is_cleared(cluster):
    cluster.control.hang(cluster.name)
    with pytest.raises(TimeoutError):
        run(cluster, list_namespaces, timeout=0.5)
    cluster.control.clear_faults(cluster.name)
    assert run(cluster, list_namespaces).items


def test_a_stalled_watch_sends_nothing_more_and_stays_open(cluster):
    async def watch_through_stall(api):
        query = {"watch": True, "allow_watch_bookmarks": True, "_preload_content": False}
        response = await CoreV1Api(api).list_namespace(**query)
        await response.content.readline()  # ADDED of a namespace: the watch is live
        assert await asyncio.to_thread(cluster.control.stall_watches, cluster.name) == 1
        with pytest.raises(TimeoutError):  # no bookmark (every 0.2 s), no event, no close
            for _ in range(20):  # what was on its way before the stall, then nothing
                await asyncio.wait_for(response.content.readline(), 1.0)
        assert not response.closed
        return await CoreV1Api(api).list_namespace()  # a new request is answered

    assert run(cluster, watch_through_stall).items


def test_request_log_shows_method_path_content_type_and_status(cluster):
    cluster.control.clear_requests(cluster.name)
    run(cluster, create_config_map)
    writes = [r for r in cluster.control.requests(cluster.name) if r["method"] != "GET"]
    assert writes == [
        {
            "method": "POST",
            "path": "/api/v1/namespaces/default/configmaps",
            "query": "",
            "contentType": "application/json",
            "status": 201,
        }
    ]


def test_control_writes_are_seen_by_clients_with_fresh_resource_versions(cluster):
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    stored = cluster.control.put(cluster.name, namespace)[0]

    async def read(api):
        return await CoreV1Api(api).read_namespace("team")

    assert run(cluster, read).metadata.resource_version == stored["metadata"]["resourceVersion"]


def test_load_balancer_status_is_settable(cluster):
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "istio-eastwestgateway", "namespace": "istio-system"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 15443}]},
    }
    cluster.control.put(cluster.name, service)
    ingress = [{"ip": "192.0.2.10"}]
    cluster.control.set_load_balancer(
        cluster.name, "istio-system", "istio-eastwestgateway", ingress
    )

    async def read(api):
        return await CoreV1Api(api).read_namespaced_service("istio-eastwestgateway", "istio-system")

    assert run(cluster, read).status.load_balancer.ingress[0].ip == "192.0.2.10"


def test_remote_secret_holds_a_working_kubeconfig_for_its_cluster(cluster, tmp_path):
    secret = cluster.control.remote_secret(cluster.name)
    assert secret["metadata"]["namespace"] == "istio-system"
    assert secret["metadata"]["labels"] == {"istio/multiCluster": "true"}
    config = base64.b64decode(secret["data"][cluster.name])
    assert yaml.safe_load(config)["contexts"][0]["name"] == cluster.name
    path = tmp_path / "remote"
    path.write_bytes(config)

    class Remote:
        name = cluster.name
        kubeconfig = path

    assert run(Remote, list_namespaces).items


def test_a_removed_cluster_is_gone_from_the_control_api(emulator):
    emulator.control.add_cluster("transient")
    emulator.control.remove_cluster("transient")
    assert "transient" not in {c["name"] for c in emulator.control.clusters()}
    with pytest.raises(ControlError) as raised:
        emulator.control.down("transient")
    assert raised.value.status == 404
