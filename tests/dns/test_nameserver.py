"""SPEC §3: the apex NS and the SOA MNAME name this server, from `--nameserver` or derived from
the pod's namespace and the cluster's domain; the zone export says the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from globaldns.config import ConfigError, pod_namespace
from harness import GlobalDns
from harness.meshes import MESH as SMALL_MESH
from tests.cli.test_cli import MESH, run
from tests.cli.test_startup_errors import fails_in_one_line, start


def apex(server: GlobalDns) -> tuple[str, str]:
    """The apex NS target and the SOA MNAME, as a client reads them."""
    ns = server.ask("global", "NS").answer[0][0].target.to_text()
    mname = server.ask("global", "SOA").answer[0][0].mname.to_text()
    return ns, mname


def test_nameserver_flag_names_the_apex_ns_and_the_soa_mname() -> None:
    server = GlobalDns(SMALL_MESH, args=["--nameserver", "NS1.Example.org."]).start()
    try:
        assert apex(server) == ("ns1.example.org.", "ns1.example.org.")
    finally:
        server.stop()


def test_default_nameserver_is_the_service_in_the_pod_namespace_and_cluster_domain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "mesh-dns")
    monkeypatch.setenv("GLOBALDNS_CLUSTER_DOMAIN", "corp.example")
    server = GlobalDns(SMALL_MESH).start()
    try:
        expected = "globaldns.mesh-dns.svc.corp.example."
        assert apex(server) == (expected, expected)
    finally:
        server.stop()


def test_zone_export_names_the_same_nameserver() -> None:
    result = run("table", "--format", "zone", "--mesh", MESH, "--nameserver", "ns1.example.org")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "@ IN NS ns1.example.org." in lines
    assert any(line.startswith("@ IN SOA ns1.example.org. ") for line in lines)


def test_namespace_comes_from_the_service_account_file(tmp_path: Path) -> None:
    file = tmp_path / "namespace"
    file.write_text("team-dns")
    assert pod_namespace({}, file) == "team-dns"
    assert pod_namespace({"POD_NAMESPACE": "other"}, file) == "other"
    assert pod_namespace({}, tmp_path / "absent") == "globaldns"


def test_a_hostile_namespace_file_is_a_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "namespace"
    file.write_text("evil.example.com. IN A")
    with pytest.raises(ConfigError, match="namespace"):
        pod_namespace({}, file)


@pytest.mark.parametrize("bad", ["two words", "trail-.example", "a..b", "x" * 64 + ".org"])
def test_a_nameserver_that_is_no_host_name_is_refused_at_start(bad: str) -> None:
    line = fails_in_one_line(start("serve", "--mesh", MESH, "--nameserver", bad))
    assert "--nameserver" in line and "is not a DNS host name" in line
