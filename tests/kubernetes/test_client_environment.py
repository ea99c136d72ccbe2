"""What of the environment a cluster's API client reads: the proxy variables, once, when it is
made (HTTPS_PROXY tunnels every request, NO_PROXY exempts the API), and never ~/.netrc, whose
Basic auth beside the kubeconfig's bearer token would fail every request."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.connect_proxy import ConnectProxy
from tests.kubernetes.conftest import Mesh, endpoints, service

GATEWAYS = {"a": "192.0.2.1", "b": "192.0.2.2"}


def _pair(mesh: Mesh) -> tuple[str, str]:
    """Two clusters, `api.bar` in the remote one only, served once both have synced."""
    local = mesh.cluster("a", "west", GATEWAYS["a"])
    remote = mesh.cluster("b", "east", GATEWAYS["b"])
    mesh.put(remote, service("bar", "api"), endpoints("bar", "api", True))
    mesh.serve([local, remote], local)
    mesh.wait_answer("api.bar.global", [GATEWAYS["b"]])
    return local, remote


def _ports(mesh: Mesh, *clusters: str) -> set[str]:
    rows = mesh.control.clusters()
    return {f"127.0.0.1:{c['port']}" for c in rows if c["name"] in clusters}


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_cluster_is_reached_through_the_https_proxy_the_environment_names(
    mesh: Mesh, no_proxy_variables: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        no_proxy_variables.setenv("HTTPS_PROXY", proxy.url)
        local, remote = _pair(mesh)
        assert set(proxy.tunnels) == _ports(mesh, local, remote)


def test_no_proxy_naming_the_api_leaves_it_direct(
    mesh: Mesh, no_proxy_variables: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        no_proxy_variables.setenv("HTTPS_PROXY", proxy.url)
        no_proxy_variables.setenv("NO_PROXY", "127.0.0.1")
        _pair(mesh)
        assert proxy.tunnels == []


def test_a_netrc_entry_for_the_apis_host_is_never_read(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    _, remote = _pair(mesh)
    assert mesh.state(remote) == "synced"
