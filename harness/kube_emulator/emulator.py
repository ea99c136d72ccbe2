"""The emulator: one CA, one HTTPS API server per cluster, and the plain-HTTP control API."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import trustme
import yaml
from aiohttp import web

from .cluster import Cluster
from .control import control_app
from .kubeconfig import Endpoint, kubeconfig, remote_secret
from .status import ApiError


class Emulator:
    """Emulated clusters on 127.0.0.1; `start()` serves them, `stop()` closes everything."""

    def __init__(
        self,
        clusters: Iterable[str] = (),
        *,
        bookmark_interval: float = 1.0,
        service_entries: bool = True,
    ) -> None:
        self.bookmark_interval = bookmark_interval
        self.service_entries = service_entries
        self._ca = trustme.CA()
        self.ca_pem: bytes = self._ca.cert_pem.bytes()
        self._ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._ssl_context)
        self.clusters: dict[str, Cluster] = {}
        self._created = 0
        self._initial = list(clusters)
        self._control: web.AppRunner | None = None
        self.control_port = 0

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    async def start(self) -> None:
        runner = web.AppRunner(
            control_app(self), handle_signals=False, access_log=None, shutdown_timeout=0.1
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.control_port = runner.addresses[0][1]
        self._control = runner
        for name in self._initial:
            await self.add_cluster(name)

    async def stop(self) -> None:
        for cluster in list(self.clusters.values()):
            await cluster.down()
        if self._control is not None:
            await self._control.cleanup()
            self._control = None

    async def add_cluster(self, name: str, service_entries: bool | None = None) -> Cluster:
        if name in self.clusters:
            raise ApiError(409, f"cluster {name!r} already exists", "AlreadyExists")
        cluster = Cluster(
            name,
            secrets.token_urlsafe(24),
            self._created,
            self._ssl_context,
            self.bookmark_interval,
            self.service_entries if service_entries is None else service_entries,
            self.ca_pem,
        )
        self._created += 1
        await cluster.up()
        self.clusters[name] = cluster
        return cluster

    async def remove_cluster(self, name: str) -> None:
        await self.cluster(name).down()
        del self.clusters[name]

    def cluster(self, name: str) -> Cluster:
        try:
            return self.clusters[name]
        except KeyError:
            raise ApiError(404, f"no cluster named {name!r}") from None

    def endpoint(self, name: str) -> Endpoint:
        cluster = self.cluster(name)
        return Endpoint(cluster.name, cluster.url, cluster.token)

    def kubeconfig(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        chosen = list(self.clusters) if names is None else list(names)
        return kubeconfig([self.endpoint(n) for n in chosen], self.ca_pem)

    def write_kubeconfig(self, path: Path, names: Iterable[str] | None = None) -> Path:
        path.write_text(yaml.safe_dump(self.kubeconfig(names), sort_keys=False))
        path.chmod(0o600)
        return path

    def remote_secret(self, name: str, namespace: str = "istio-system") -> dict[str, Any]:
        return remote_secret(self.endpoint(name), self.ca_pem, namespace)
