"""The emulator on the caller's own event loop, for async code that owns its loop."""

import asyncio

import aiohttp
import pytest
from kubernetes_asyncio.client import CoreV1Api

from harness.kube_emulator import Emulator

from .kube_client import api_client


def test_in_process_emulator_serves_until_stopped(tmp_path):
    async def scenario():
        emulator = Emulator(["uswest2", "useast2"])
        await emulator.start()
        path = emulator.write_kubeconfig(tmp_path / "kubeconfig")
        emulator.cluster("useast2").put(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bar"}}
        )
        async with await api_client(path, "useast2") as api:
            names = {ns.metadata.name for ns in (await CoreV1Api(api).list_namespace()).items}
        await emulator.stop()
        async with await api_client(path, "useast2") as api:
            with pytest.raises(aiohttp.ClientConnectorError):
                await CoreV1Api(api).list_namespace()
        return names

    assert "bar" in asyncio.run(asyncio.wait_for(scenario(), 30))
