"""The seed's walkthrough, end to end: two clusters (uswest2, useast2) on the API emulator,
`globaldns install` into both, unbound in CoreDNS's role forwarding `global.` where the installed
block says, and `dig` answering local first, failing over to the other cluster's gateway when
the local pods go unready, and answering region-pinned names from their region.

The ClusterIP in the installed block is not routable here: the test maps it, explicitly, to the
127.0.0.1 port where that cluster's `globaldns serve` process listens.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from globaldns.install.corefile import parse
from harness import GlobalDns, free_port
from harness.kube_emulator import EmulatorThread
from harness.kube_emulator.seed import service_objects

from .conftest import KUBEADM_COREFILE, Clusters, new_clusters, remove

pytestmark = pytest.mark.timeout(120)

REGIONS = {"uswest2": "west", "useast2": "east"}
GATEWAYS = {"uswest2": "192.168.20.106", "useast2": "192.168.30.7"}
POD_IPS = {"uswest2": "10.244.1.10", "useast2": "10.244.2.10"}
WAIT = 15.0


def seed(clusters: Clusters, cluster: str) -> None:
    """Region-labelled node, east-west gateway, and Service foo (identity foo) in `sample`."""
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": f"{cluster}-node",
            "labels": {"topology.kubernetes.io/region": REGIONS[cluster]},
        },
    }
    gateway = service_objects("istio-system", "istio-eastwestgateway", "10.244.0.2")[0]
    gateway["spec"]["type"] = "LoadBalancer"
    gateway["status"] = {"loadBalancer": {"ingress": [{"ip": GATEWAYS[cluster]}]}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sample"}}
    service, endpoints = service_objects("sample", "foo", POD_IPS[cluster])
    service["metadata"]["labels"]["identity"] = "foo"
    clusters.control.put(cluster, node, gateway, namespace, service, endpoints)


def set_ready(clusters: Clusters, cluster: str, ready: bool) -> None:
    (endpoints,) = clusters.control.objects(
        cluster, "discovery.k8s.io/v1", "EndpointSlice", "sample"
    )
    endpoints["endpoints"][0]["conditions"]["ready"] = ready
    clusters.control.put(cluster, endpoints)


def forward_address(corefile: str) -> str:
    """The address the installed `global:53` block forwards to."""
    (block,) = parse(corefile).blocks_serving("global")
    found = re.search(r"forward \. (\S+):53", corefile[block.start : block.end])
    assert found, corefile
    return found.group(1)


@dataclass
class Walkthrough:
    clusters: Clusters
    unbound_port: int
    foo_ips: dict[str, str]

    def dig(self, name: str) -> list[str]:
        result = subprocess.run(
            [
                "dig",
                "@127.0.0.1",
                "-p",
                str(self.unbound_port),
                name,
                "A",
                "+short",
                "+time=2",
                "+tries=1",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sorted(line for line in result.stdout.split() if line and not line.startswith(";"))

    def dig_until(self, name: str, expected: list[str]) -> list[str]:
        """Ask until the answer is `expected` or WAIT seconds pass; the last answer."""
        deadline = time.monotonic() + WAIT
        answer = self.dig(name)
        while answer != expected and time.monotonic() < deadline:
            time.sleep(0.3)
            answer = self.dig(name)
        return answer


def start_server(kubeconfig: Path, cluster: str, port: int, admin: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "globaldns",
            "serve",
            "--kubeconfig",
            str(kubeconfig),
            "--local-cluster",
            cluster,
            "--listen",
            f"127.0.0.1:{port}",
            "--admin",
            f"127.0.0.1:{admin}",
            # The gateways are example addresses nothing listens on: never probe them.
            "--gateway-probe-port",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_ready(admin: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"globaldns on admin port {admin} not ready within {WAIT}s")


def unbound_conf(directory: Path, port: int, upstream: int) -> Path:
    conf = directory / "unbound.conf"
    conf.write_text(
        f"""server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "{directory}"
    pidfile: "{directory}/unbound.pid"
    use-syslog: no
    logfile: ""
    num-threads: 1
    module-config: "iterator"
    cache-max-ttl: 0
    cache-max-negative-ttl: 0
    domain-insecure: "global."
remote-control:
    control-enable: no
forward-zone:
    name: "global."
    forward-addr: 127.0.0.1@{upstream}
"""
    )
    return conf


def stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture(scope="module")
def walkthrough(
    emulator: EmulatorThread, tmp_path_factory: pytest.TempPathFactory, standin: GlobalDns
) -> Iterator[Walkthrough]:
    directory = tmp_path_factory.mktemp("walkthrough")
    corefiles: list[str | None] = [KUBEADM_COREFILE] * len(REGIONS)
    answering = f"127.0.0.1:{standin.port}"  # install's check, before each cluster's own server
    clusters = new_clusters(emulator, directory, corefiles, list(REGIONS), answering)
    processes: list[subprocess.Popen[Any]] = []
    try:
        for name in clusters.names:
            seed(clusters, name)
        installed = clusters.globaldns("install", "--contexts", "all")
        assert installed.status == 0, installed.out + installed.err
        # Where each cluster's CoreDNS sends global. (a ClusterIP) -> where that cluster's
        # globaldns really listens in this test.
        listening: dict[str, int] = {}
        for name in clusters.names:
            port, admin = free_port(), free_port()
            listening[forward_address(clusters.corefile(name))] = port
            processes.append(start_server(clusters.kubeconfig, name, port, admin))
            wait_ready(admin, processes[-1])
        west_target = listening[forward_address(clusters.corefile("uswest2"))]
        unbound_port = free_port()
        conf = unbound_conf(directory, unbound_port, west_target)
        processes.append(
            subprocess.Popen(
                ["unbound", "-d", "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
        foo_ips = {
            name: clusters.control.objects(name, "v1", "Service", "sample")[0]["spec"]["clusterIP"]
            for name in clusters.names
        }
        yield Walkthrough(clusters, unbound_port, foo_ips)
    finally:
        for process in reversed(processes):
            stop(process)
        remove(clusters)


def test_foo_global_answers_the_local_service(walkthrough: Walkthrough) -> None:
    local = [walkthrough.foo_ips["uswest2"]]
    assert walkthrough.dig_until("foo.global", local) == local


def test_region_pinned_names_answer_their_region(walkthrough: Walkthrough) -> None:
    west = [walkthrough.foo_ips["uswest2"]]
    east = [GATEWAYS["useast2"]]
    assert walkthrough.dig_until("foo-west.global", west) == west
    assert walkthrough.dig_until("foo-east.global", east) == east


def test_foo_global_fails_over_to_the_other_gateway_when_local_pods_go_unready(
    walkthrough: Walkthrough,
) -> None:
    set_ready(walkthrough.clusters, "uswest2", False)
    try:
        remote = [GATEWAYS["useast2"]]
        assert walkthrough.dig_until("foo.global", remote) == remote
    finally:
        set_ready(walkthrough.clusters, "uswest2", True)


def test_foo_global_comes_back_to_the_local_service_when_its_pods_are_ready_again(
    walkthrough: Walkthrough,
) -> None:
    local = [walkthrough.foo_ips["uswest2"]]
    set_ready(walkthrough.clusters, "uswest2", False)
    walkthrough.dig_until("foo.global", [GATEWAYS["useast2"]])
    set_ready(walkthrough.clusters, "uswest2", True)
    assert walkthrough.dig_until("foo.global", local) == local


def test_uninstall_leaves_both_clusters_as_they_were(walkthrough: Walkthrough) -> None:
    clusters = walkthrough.clusters
    assert clusters.globaldns("uninstall", "--contexts", "all").status == 0
    assert [clusters.corefile(name) for name in clusters.names] == [KUBEADM_COREFILE] * 2
    namespaces = [
        ns["metadata"]["name"]
        for name in clusters.names
        for ns in clusters.control.objects(name, "v1", "Namespace")
    ]
    assert "globaldns" not in namespaces
