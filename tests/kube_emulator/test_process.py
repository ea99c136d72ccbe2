"""Separate-process mode: `python -m harness.kube_emulator` writes its files, serves seeded
clusters, and exits cleanly on SIGTERM."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import CoreV1Api, DiscoveryV1Api

from harness.kube_emulator import ControlClient

from .kube_client import run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def process(tmp_path_factory):
    directory = tmp_path_factory.mktemp("emulator")
    seed = directory / "seed.yaml"
    seed.write_text(
        yaml.safe_dump(
            {"useast2": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "seeded"}}]}
        )
    )
    command = [
        sys.executable,
        "-m",
        "harness.kube_emulator",
        "--clusters",
        "uswest2,useast2",
        "--services-per-cluster",
        "30",
        "--seed-file",
        str(seed),
        "--dir",
        str(directory),
    ]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not (directory / "control.json").exists():
        assert child.poll() is None, child.stdout.read().decode()
        assert time.monotonic() < deadline, "emulator did not start within 30 s"
        time.sleep(0.05)
    yield child, directory
    if child.poll() is None:
        child.kill()
        child.wait(10)


class Context:
    def __init__(self, directory, name):
        self.kubeconfig = directory / "kubeconfig"
        self.name = name


def test_process_writes_kubeconfig_ca_and_control_url(process):
    _, directory = process
    config = yaml.safe_load((directory / "kubeconfig").read_text())
    assert [c["name"] for c in config["contexts"]] == ["uswest2", "useast2"]
    assert (directory / "ca.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    control = json.loads((directory / "control.json").read_text())
    names = [c["name"] for c in ControlClient(control["url"]).clusters()]
    assert names == ["uswest2", "useast2"]


def test_process_seeds_services_with_endpoint_slices_and_a_gateway(process):
    _, directory = process

    async def read(api):
        services = await CoreV1Api(api).list_namespaced_service("bench")
        slices = await DiscoveryV1Api(api).list_namespaced_endpoint_slice("bench")
        gateway = await CoreV1Api(api).read_namespaced_service(
            "istio-eastwestgateway", "istio-system"
        )
        return services, slices, gateway

    services, slices, gateway = run(Context(directory, "uswest2"), read)
    assert len(services.items) == len(slices.items) == 30
    assert gateway.status.load_balancer.ingress[0].ip


def test_process_applies_the_seed_file_to_its_cluster(process):
    _, directory = process

    async def read(api):
        return await CoreV1Api(api).read_namespace("seeded")

    assert run(Context(directory, "useast2"), read).metadata.name == "seeded"


def test_process_exits_zero_on_sigterm(process):
    child, _ = process
    child.terminate()
    assert child.wait(10) == 0
