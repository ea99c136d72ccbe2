"""Drives the real kubernetes_asyncio client from synchronous tests, configured from a kubeconfig
exactly as globaldns configures it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

T = TypeVar("T")


class HasKubeconfig(Protocol):
    name: str
    kubeconfig: Path


async def api_client(kubeconfig: Path, context: str) -> ApiClient:
    return await config.new_client_from_config(config_file=str(kubeconfig), context=context)


def run(
    cluster: HasKubeconfig, body: Callable[[ApiClient], Awaitable[T]], timeout: float = 30
) -> T:
    """Run `body(api_client)` against the cluster's context, bounded by `timeout` seconds."""

    async def go() -> T:
        async with await api_client(cluster.kubeconfig, cluster.name) as api:
            return await asyncio.wait_for(body(api), timeout)

    return asyncio.run(go())


def error_of(
    cluster: HasKubeconfig, body: Callable[[ApiClient], Awaitable[Any]]
) -> tuple[int, dict[str, Any]]:
    """The HTTP status and Status body of the ApiException `body` must raise."""
    with pytest.raises(ApiException) as raised:
        run(cluster, body)
    return raised.value.status, json.loads(raised.value.body)
