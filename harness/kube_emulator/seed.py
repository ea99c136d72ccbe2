"""Bulk seeding for benchmarks and process mode: Services with EndpointSlices, an east-west
gateway per cluster, and region-labelled nodes, built directly into the store (no HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .cluster import Cluster

REGIONS = ("west", "east", "central", "south")


def gateway_ip(index: int) -> str:
    """Loopback, so that a globaldns probing the seeded gateways never leaves the machine."""
    return f"127.{1 + index // 250}.{index % 250}.1"


def service_objects(namespace: str, name: str, address: str) -> list[dict[str, Any]]:
    """A ClusterIP Service on port 80 and its EndpointSlice with one ready endpoint."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {
                "type": "ClusterIP",
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-abcde",
                "namespace": namespace,
                "labels": {
                    "kubernetes.io/service-name": name,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        },
    ]


def seed_cluster(cluster: Cluster, index: int, services: int, namespace: str = "bench") -> None:
    """Seed a namespace of `services` Services, the gateway and one node with a region label."""
    region = REGIONS[index % len(REGIONS)]
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"{cluster.name}-node-0",
                "labels": {"topology.kubernetes.io/region": region},
            },
        }
    )
    gateway = service_objects("istio-system", "istio-eastwestgateway", "10.244.0.2")[0]
    gateway["spec"]["type"] = "LoadBalancer"
    gateway["status"] = {"loadBalancer": {"ingress": [{"ip": gateway_ip(index)}]}}
    cluster.put(gateway)
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for number in range(services):
        address = f"10.{128 + number // 65536}.{(number // 256) % 256}.{number % 256}"
        for obj in service_objects(namespace, f"svc-{number:05d}", address):
            cluster.put(obj)


def seed_file_objects(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Read a seed file: YAML mapping of cluster name to a list of objects."""
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of cluster name to a list of objects")
    return {str(name): list(objects or []) for name, objects in data.items()}


def vip(number: int, generation: int = 0) -> str:
    """A ServiceImport's spec.ips: one VIP per imported service (and per change of it)."""
    return f"240.{generation % 256}.{number // 256 % 256}.{number % 256}"


def service_import(namespace: str, name: str, address: str) -> dict[str, Any]:
    """A ClusterSetIP ServiceImport on port 80 (`multicluster.x-k8s.io/v1alpha1`)."""
    return {
        "apiVersion": "multicluster.x-k8s.io/v1alpha1",
        "kind": "ServiceImport",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "ClusterSetIP",
            "ips": [address],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        },
    }


def seed_imports(cluster: Cluster, services: int, sources: int, namespace: str = "bench") -> None:
    """What an MCS implementation writes into one cluster: `services` ServiceImports, each
    with an EndpointSlice (one ready endpoint) labelled with every one of `sources` clusters."""
    cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for number in range(services):
        name = f"svc-{number:05d}"
        cluster.put(service_import(namespace, name, vip(number)))
        for source in range(sources):
            labels = {
                "multicluster.kubernetes.io/service-name": name,
                "multicluster.kubernetes.io/source-cluster": f"source-{source:03d}",
            }
            cluster.put(
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": f"{name}-{source:03d}",
                        "namespace": namespace,
                        "labels": labels,
                    },
                    "addressType": "IPv4",
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                    "endpoints": [
                        {
                            "addresses": [f"10.{source}.{number // 256}.{number % 256}"],
                            "conditions": {"ready": True},
                        }
                    ],
                }
            )
