"""Kubeconfig documents for emulated clusters, and the remote-cluster Secret that
`istioctl create-remote-secret` writes, so clients are configured exactly as in production."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Endpoint:
    """How to reach one cluster: its name, HTTPS URL and bearer token."""

    name: str
    url: str
    token: str


def kubeconfig(endpoints: Iterable[Endpoint], ca_pem: bytes) -> dict[str, Any]:
    """One context per cluster, named after it; the first is the current context."""
    endpoints = list(endpoints)
    ca_data = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": endpoints[0].name if endpoints else "",
        "clusters": [
            {"name": e.name, "cluster": {"server": e.url, "certificate-authority-data": ca_data}}
            for e in endpoints
        ],
        "users": [{"name": e.name, "user": {"token": e.token}} for e in endpoints],
        "contexts": [
            {"name": e.name, "context": {"cluster": e.name, "user": e.name}} for e in endpoints
        ],
    }


def kubeconfig_yaml(endpoints: Iterable[Endpoint], ca_pem: bytes) -> str:
    return yaml.safe_dump(kubeconfig(endpoints, ca_pem), sort_keys=False)


def remote_secret(
    endpoint: Endpoint, ca_pem: bytes, namespace: str = "istio-system"
) -> dict[str, Any]:
    """The Secret (label istio/multiCluster=true; in istio-system as istioctl writes it, unless
    another namespace is named) that lets others read this cluster."""
    config = kubeconfig_yaml([endpoint], ca_pem)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": f"istio-remote-secret-{endpoint.name}",
            "namespace": namespace,
            "labels": {"istio/multiCluster": "true"},
            "annotations": {"networking.istio.io/cluster": endpoint.name},
        },
        "data": {endpoint.name: base64.b64encode(config.encode()).decode()},
    }
