"""Bearer-token authentication of each cluster's HTTPS API."""

import asyncio
import base64
import json
import ssl
import urllib.error
import urllib.request

import pytest
import yaml
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from .kube_client import api_client


def _kubeconfig_with_token(cluster, tmp_path, token):
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = token
    path = tmp_path / "wrong-token"
    path.write_text(yaml.safe_dump(config))
    return path


def test_wrong_token_gets_401_with_a_status_body(cluster, tmp_path):
    path = _kubeconfig_with_token(cluster, tmp_path, "not-the-token")

    async def list_services():
        async with await api_client(path, cluster.name) as api:
            await CoreV1Api(api).list_namespaced_service("default")

    with pytest.raises(ApiException) as raised:
        asyncio.run(list_services())
    assert raised.value.status == 401
    body = json.loads(raised.value.body)
    assert body["kind"] == "Status"
    assert body["reason"] == "Unauthorized"
    assert body["code"] == 401


def test_missing_token_gets_401(cluster, emulator):
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    url = config["clusters"][0]["cluster"]["server"] + "/api/v1/namespaces"
    context = ssl.create_default_context(cadata=emulator.emulator.ca_pem.decode())
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(url, context=context, timeout=10)
    assert raised.value.code == 401
    assert json.load(raised.value)["reason"] == "Unauthorized"


def test_kubeconfig_token_is_accepted_over_tls_verified_by_the_embedded_ca(cluster):
    async def namespaces():
        async with await api_client(cluster.kubeconfig, cluster.name) as api:
            return await CoreV1Api(api).list_namespace()

    names = {ns.metadata.name for ns in asyncio.run(namespaces()).items}
    assert {"default", "kube-system", "istio-system"} <= names


def test_request_log_never_contains_the_token(cluster):
    token = yaml.safe_load(cluster.kubeconfig.read_text())["users"][0]["user"]["token"]

    async def get_namespace():
        async with await api_client(cluster.kubeconfig, cluster.name) as api:
            await CoreV1Api(api).read_namespace("default")

    asyncio.run(get_namespace())
    log = cluster.control.requests(cluster.name)
    assert log, "the request was not logged"
    assert token not in json.dumps(log)


def _service_account_token_secret(namespace, account):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": f"{account}-token",
            "namespace": namespace,
            "annotations": {"kubernetes.io/service-account.name": account},
        },
    }


def _issued_token(cluster, namespace, account):
    cluster.control.put(
        cluster.name,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account,
                                                                    "namespace": namespace}},
        _service_account_token_secret(namespace, account),
    )  # fmt: skip
    secrets = cluster.control.objects(cluster.name, "v1", "Secret", namespace)
    (secret,) = [s for s in secrets if s["metadata"]["name"] == f"{account}-token"]
    return secret


def test_a_service_account_token_secret_is_filled_with_a_token_that_authenticates(
    cluster, tmp_path
):
    secret = _issued_token(cluster, "default", "reader")
    assert base64.b64decode(secret["data"]["namespace"]) == b"default"
    assert b"BEGIN CERTIFICATE" in base64.b64decode(secret["data"]["ca.crt"])
    path = _kubeconfig_with_token(
        cluster, tmp_path, base64.b64decode(secret["data"]["token"]).decode()
    )

    async def namespaces():
        async with await api_client(path, cluster.name) as api:
            return await CoreV1Api(api).list_namespace()

    assert asyncio.run(namespaces()).items


def test_a_token_secret_of_an_account_that_does_not_exist_stays_empty(cluster):
    cluster.control.put(cluster.name, _service_account_token_secret("default", "nobody"))
    (secret,) = cluster.control.objects(cluster.name, "v1", "Secret", "default")
    assert "data" not in secret


def test_deleting_the_token_secret_revokes_its_token(cluster, tmp_path):
    secret = _issued_token(cluster, "default", "reader")
    token = base64.b64decode(secret["data"]["token"]).decode()
    cluster.control.delete(cluster.name, "v1", "Secret", "reader-token", "default")
    path = _kubeconfig_with_token(cluster, tmp_path, token)

    async def namespaces():
        async with await api_client(path, cluster.name) as api:
            return await CoreV1Api(api).list_namespace()

    with pytest.raises(ApiException) as raised:
        asyncio.run(namespaces())
    assert raised.value.status == 401


def test_every_presented_token_is_remembered_and_only_those(cluster, tmp_path):
    path = _kubeconfig_with_token(cluster, tmp_path, "a-token-nobody-issued")

    async def list_services():
        async with await api_client(path, cluster.name) as api:
            await CoreV1Api(api).list_namespaced_service("default")

    with pytest.raises(ApiException):
        asyncio.run(list_services())
    assert cluster.control.token_presented(cluster.name, "a-token-nobody-issued")
    assert not cluster.control.token_presented(cluster.name, "another-token")


def test_a_rotated_token_refuses_the_old_one_and_accepts_the_new(cluster, tmp_path):
    old = cluster.kubeconfig
    cluster.control.rotate_token(cluster.name)
    new = tmp_path / "rotated"
    new.write_text(yaml.safe_dump(cluster.control.kubeconfig([cluster.name])))

    async def namespaces(path):
        async with await api_client(path, cluster.name) as api:
            return await CoreV1Api(api).list_namespace()

    with pytest.raises(ApiException) as raised:
        asyncio.run(namespaces(old))
    assert raised.value.status == 401
    assert asyncio.run(namespaces(new)).items
