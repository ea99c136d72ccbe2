"""Fresh clusters per test in the session's Kubernetes emulator (tests/conftest.py), and
`globaldns serve` run as a real process against them, with helpers that speak in Services,
EndpointSlices and answers."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.exception
import dns.rcode
import pytest
import yaml

from globaldns.config.values import DEFAULT_NAMESPACE
from harness import GlobalDns, addresses, wait_for
from harness.kube_emulator import ControlClient, EmulatorThread

WAIT = 5.0  # seconds any change may take to show in answers
_numbers = itertools.count()


def service(
    namespace: str,
    name: str,
    labels: dict[str, str] | None = None,
    headless: bool = False,
    ports: tuple[tuple[str, int], ...] = (("http", 80),),
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"app": name},
        "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
    }
    if headless:
        spec["clusterIP"] = "None"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": spec,
    }


def endpoints(namespace: str, service_name: str, *ready: bool, first: int = 10) -> dict[str, Any]:
    """One EndpointSlice of the Service with an endpoint per flag (10.244.0.<first+i>)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name}-slice",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [f"10.244.0.{first + i}"], "conditions": {"ready": flag}}
            for i, flag in enumerate(ready)
        ],
    }


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels or {}},
    }


def node(name: str, region: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/region": region}},
    }


def gateway(ip: str | None = None, hostname: str | None = None) -> dict[str, Any]:
    obj = service("istio-system", "istio-eastwestgateway")
    obj["spec"]["type"] = "LoadBalancer"
    ingress = [{"ip": ip}] if ip else [{"hostname": hostname}]
    obj["status"] = {"loadBalancer": {"ingress": ingress}}
    return obj


def service_entry(
    name: str, hosts: list[str], addresses_: list[str], version: str = "v1"
) -> dict[str, Any]:
    return {
        "apiVersion": f"networking.istio.io/{version}",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"hosts": hosts, "addresses": addresses_, "resolution": "STATIC"},
    }


class Mesh:
    """Clusters in the emulator and one globaldns serving them; names are per test."""

    def __init__(self, emulator: EmulatorThread, tmp: Path) -> None:
        self.emulator = emulator
        self.control: ControlClient = emulator.control
        self.tmp = tmp
        self.prefix = f"t{next(_numbers)}"
        self.clusters: list[str] = []
        self.server: GlobalDns | None = None

    def cluster(self, suffix: str, region: str | None = None, gateway_ip: str | None = None) -> str:
        """A new cluster (named prefix+suffix) with a namespace `bar`, a region and a gateway."""
        name = f"{self.prefix}{suffix}"
        self.control.add_cluster(name)
        self.clusters.append(name)
        objects = [namespace("bar")]
        if region:
            objects.append(node(f"{name}-node", region))
        if gateway_ip:
            objects.append(gateway(gateway_ip))
        self.control.put(name, *objects)
        return name

    def put(self, cluster: str, *objects: dict[str, Any]) -> list[dict[str, Any]]:
        return self.control.put(cluster, *objects)

    def delete(self, cluster: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.control.delete(
            cluster, obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace", "")
        )

    def remote_secret(self, cluster: str) -> dict[str, Any]:
        """The istioctl-style Secret for `cluster`, in the namespace the server reads by default
        outside a pod (`globaldns`)."""
        return self.control.remote_secret(cluster, DEFAULT_NAMESPACE)

    def kubeconfig(self, clusters: list[str]) -> Path:
        path = self.tmp / f"kubeconfig-{'-'.join(clusters)}"
        path.write_text(yaml.safe_dump(self.control.kubeconfig(clusters)))
        return path

    def serve(
        self, clusters: list[str], local: str, *args: str, ready: bool = True, probe: bool = False
    ) -> GlobalDns:
        """`globaldns serve` on these clusters; gateway probes off unless `probe` (tests that
        probe use loopback gateways: nothing may connect off this machine). With `ready`, it
        returns once `/ready` is 200 and every one of `clusters` has synced."""
        self.server = GlobalDns(
            args=[
                "--kubeconfig", str(self.kubeconfig(clusters)),
                "--local-cluster", local,
                "--watch-backoff-max", "0.5",
                "--log-level", "debug",
                *([] if probe else ["--gateway-probe-port", "0"]),
                *args,
            ]
        ).start()  # fmt: skip
        if ready:  # ready, and every cluster of the kubeconfig synced (readiness needs local's)
            wait_for(lambda: self.server.http("/ready")[0] == 200, WAIT, what="/ready")
            for name in clusters:
                self.wait_state(name, "synced")
        return self.server

    def answer(self, name: str, rdtype: str = "A") -> list[str]:
        assert self.server is not None
        return sorted(addresses(self.server.ask(name, rdtype)))

    def answer_in_order(self, name: str, rdtype: str = "A") -> list[str]:
        assert self.server is not None
        return addresses(self.server.ask(name, rdtype))

    def table_entry(self, host: str) -> dict[str, Any]:
        return next(n for n in self.table()["names"] if n["name"] == f"{host}.global.")

    def wait_answer(self, name: str, expected: list[str], rdtype: str = "A") -> None:
        """Poll until `name` answers exactly `expected` (any order); fail after WAIT seconds."""
        wanted = sorted(expected)
        last: list[list[str]] = [[]]

        def matches() -> bool:
            last[0] = self.answer(name, rdtype)
            return last[0] == wanted

        try:
            wait_for(matches, WAIT, 0.02, f"{name} to answer {wanted}")
        except AssertionError as err:
            raise AssertionError(f"{err}; last answer {last[0]}") from None

    @contextlib.contextmanager
    def steady(self, *names: str) -> Iterator[None]:
        """Asserts that each name answers the same throughout the block as at its start: the
        same rcode and addresses, polled every 20 ms from a thread (never blank, never
        SERVFAIL where it answered), and that `/ready` stays 200 all along."""
        assert self.server is not None
        server = self.server

        def reply(name: str) -> tuple[str, list[str]]:
            message = server.ask(name)
            return dns.rcode.to_text(message.rcode()), sorted(addresses(message))

        before = {name: reply(name) for name in names}
        seen: dict[str, set[tuple[str, tuple[str, ...]]]] = {name: set() for name in names}
        ready: set[int] = set()
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.02):
                try:
                    ready.add(server.http("/ready")[0])
                except OSError:
                    ready.add(0)  # no answer at all
                for name in names:
                    try:
                        rcode, found = reply(name)
                    except dns.exception.Timeout:
                        rcode, found = "no answer", []
                    seen[name].add((rcode, tuple(found)))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            yield
        finally:
            done.set()
            poller.join(5)
        for name in names:
            rcode, found = before[name]
            assert seen[name] <= {(rcode, tuple(found))}, f"{name} changed: {seen[name]}"
        assert ready <= {200}, f"/ready answered {ready}"

    def table(self) -> dict[str, Any]:
        assert self.server is not None
        return json.loads(self.server.http("/table")[1])

    def state(self, cluster: str) -> str:
        """The cluster's state in `/table`, or "absent" before the server knows of it."""
        return next(
            (c["state"] for c in self.table()["clusters"] if c["name"] == cluster), "absent"
        )

    def wait_state(self, cluster: str, state: str, timeout: float = WAIT) -> None:
        wait_for(lambda: self.state(cluster) == state, timeout, 0.05, f"{cluster} {state}")

    def stall_watches(self, cluster: str) -> int:
        """`ControlClient.stall_watches` once every resource the server listed in `cluster`
        is watched (a cluster is synced once listed, a moment before its watches open, and a
        watch opened after the stall would see what the test means it to miss)."""

        def watched() -> bool:
            requests = self.control.requests(cluster)
            listed = {
                r["path"] for r in requests if r["status"] == 200 and "watch=" not in r["query"]
            }
            row = next(c for c in self.control.clusters() if c["name"] == cluster)
            return bool(listed) and row["watches"] >= len(listed)

        wait_for(watched, WAIT, 0.02, f"every watch of {cluster} open")
        return self.control.stall_watches(cluster)

    def close(self) -> None:
        if self.server is not None:
            print(self.server.logs())  # pytest shows it when the test failed
            self.server.stop()
        for name in self.clusters:
            self.control.remove_cluster(name)


@pytest.fixture
def mesh(emulator: EmulatorThread, tmp_path: Path) -> Iterator[Mesh]:
    made = Mesh(emulator, tmp_path)
    yield made
    made.close()
