"""Remote Secrets are untrusted input: a running server refuses a kubeconfig that would run a
command, read a local file or weaken TLS (no command runs, no file is read, one log line names
the Secret, key and field), shows and counts the refusal, and keeps serving the other clusters;
the operator can allow each option by flag."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dns.rcode
import yaml

from globaldns.cli import build_parser
from globaldns.config.values import DEFAULT_NAMESPACE
from globaldns.settings import Settings, layers
from globaldns.sources.kubernetes.remote_kubeconfig import Allow
from harness import REPO, wait_for
from tests.kubernetes.conftest import WAIT, Mesh, endpoints, service

EXEC_API = "client.authentication.k8s.io/v1beta1"


def secret_with(mesh: Mesh, cluster: str, user: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The remote Secret of `cluster` with its user replaced and these cluster fields added."""
    config = mesh.control.kubeconfig([cluster])
    config["users"][0]["user"] = user
    config["clusters"][0]["cluster"].update(fields)
    secret = mesh.remote_secret(cluster)
    secret["metadata"]["name"] = f"hostile-{cluster}"
    secret["data"] = {cluster: base64.b64encode(yaml.safe_dump(config).encode()).decode()}
    return secret


def token_of(mesh: Mesh, cluster: str) -> str:
    return str(mesh.control.kubeconfig([cluster])["users"][0]["user"]["token"])


def exec_user(marker: Path, token: str) -> dict[str, Any]:
    """An exec plugin that leaves `marker` behind and hands out `token`."""
    credential = json.dumps({"apiVersion": EXEC_API, "kind": "ExecCredential",
                             "status": {"token": token}})  # fmt: skip
    script = f"touch {marker}; printf '%s' '{credential}'"
    return {"exec": {"apiVersion": EXEC_API, "command": "sh", "args": ["-c", script]}}


def three_clusters(mesh: Mesh) -> tuple[str, str, str]:
    """A local cluster, a remote one joined by a plain Secret, and one for the hostile Secret;
    each remote one holds web.bar."""
    local = mesh.cluster("a", "west", "192.0.2.1")
    good = mesh.cluster("b", "east", "192.0.2.2")
    target = mesh.cluster("c", "south", "192.0.2.3")
    for remote in (good, target):
        mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    mesh.put(local, mesh.remote_secret(good))
    return local, good, target


def refusal_lines(logs: str, cluster: str) -> list[str]:
    return [
        line for line in logs.splitlines() if f"cluster {cluster}:" in line and "refused" in line
    ]


def test_an_exec_secret_runs_nothing_is_named_in_one_line_and_the_others_keep_answering(
    mesh: Mesh, tmp_path: Path
) -> None:
    local, _, target = three_clusters(mesh)
    marker = tmp_path / "exec-ran"
    server = mesh.serve([local], local)
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])

    mesh.put(local, secret_with(mesh, target, exec_user(marker, token_of(mesh, target))))
    mesh.wait_state(target, "refused")
    assert not marker.exists()
    (line,) = refusal_lines(server.logs(), target)
    assert f"Secret {DEFAULT_NAMESPACE}/hostile-{target} key {target}" in line
    assert "users[0].user.exec" in line
    assert mesh.answer("web.bar.global") == ["192.0.2.2"]
    assert server.http("/ready")[0] == 200
    assert server.metric('globaldns_remote_secrets_refused_total{reason="exec"}') == 1
    assert mesh.control.requests(target) == []  # no client was ever made for it


def test_an_exec_secret_allowed_by_flag_runs_and_its_cluster_joins(
    mesh: Mesh, tmp_path: Path
) -> None:
    local, _, target = three_clusters(mesh)
    marker = tmp_path / "exec-ran"
    mesh.serve([local], local, "--allow-remote-kubeconfig", "exec")
    mesh.put(local, secret_with(mesh, target, exec_user(marker, token_of(mesh, target))))
    mesh.wait_answer("web.bar.global", ["192.0.2.2", "192.0.2.3"])
    assert marker.exists()


def test_a_token_file_secret_reads_nothing_and_the_token_never_reaches_its_server(
    mesh: Mesh, tmp_path: Path
) -> None:
    local, _, target = three_clusters(mesh)
    token_file = tmp_path / "token"
    token_file.write_text(token_of(mesh, target))
    server = mesh.serve([local], local)
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])  # the good remote synced first

    mesh.put(local, secret_with(mesh, target, {"tokenFile": str(token_file)}))
    mesh.wait_state(target, "refused")
    (line,) = refusal_lines(server.logs(), target)
    assert "users[0].user.tokenFile" in line
    assert not mesh.control.token_presented(target, token_file.read_text())
    assert mesh.answer("web.bar.global") == ["192.0.2.2"]


def test_a_token_file_secret_allowed_by_flag_sends_the_file_s_token(
    mesh: Mesh, tmp_path: Path
) -> None:
    local, _, target = three_clusters(mesh)
    token_file = tmp_path / "token"
    token_file.write_text(token_of(mesh, target))
    mesh.serve([local], local, "--allow-remote-kubeconfig", "token-file,exec")
    mesh.put(local, secret_with(mesh, target, {"tokenFile": str(token_file)}))
    mesh.wait_answer("web.bar.global", ["192.0.2.2", "192.0.2.3"])
    assert mesh.control.token_presented(target, token_file.read_text())


def test_insecure_skip_tls_verify_is_refused_and_when_allowed_warned_about(mesh: Mesh) -> None:
    local, _, target = three_clusters(mesh)
    insecure = secret_with(mesh, target, {"token": token_of(mesh, target)},
                           **{"insecure-skip-tls-verify": True})  # fmt: skip
    server = mesh.serve([local], local)
    mesh.put(local, insecure)
    mesh.wait_state(target, "refused")
    assert "clusters[0].cluster.insecure-skip-tls-verify" in refusal_lines(server.logs(), target)[0]
    server.stop()

    server = mesh.serve([local], local, "--allow-remote-kubeconfig", "insecure-skip-tls-verify")
    mesh.wait_answer("web.bar.global", ["192.0.2.2", "192.0.2.3"])
    (warning,) = [line for line in server.logs().splitlines() if "TLS checking off" in line]
    assert "WARNING" in warning and f"cluster {target}:" in warning


def test_every_refused_option_is_shown_in_table_and_counted_by_reason(mesh: Mesh) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    hostile = {
        "auth-provider": ({"auth-provider": {"name": "oidc"}}, {}),
        "basic-auth": ({"username": "admin", "password": "pw"}, {}),
        "files": ({"client-certificate": "/c.pem", "client-key": "/k.pem"}, {}),
        "proxy-url": ({"token": "x"}, {"proxy-url": "http://127.0.0.1:9"}),
        "impersonate": ({"token": "x", "as": "system:admin"}, {}),
        "unknown-field": ({"token": "x", "tokenfile": "/etc/passwd"}, {}),
    }
    server = mesh.serve([local], local)
    for reason, (user, fields) in hostile.items():
        secret = secret_with(mesh, local, user, **fields)
        secret["metadata"]["name"] = f"hostile-{reason}"
        secret["data"] = {reason: next(iter(secret["data"].values()))}
        mesh.put(local, secret)
    for reason in hostile:
        mesh.wait_state(reason, "refused")
        assert server.metric(f'globaldns_remote_secrets_refused_total{{reason="{reason}"}}') == 1
        assert len(refusal_lines(server.logs(), reason)) == 1
    assert server.http("/ready")[0] == 200


def test_a_refused_secret_never_holds_names_at_servfail(mesh: Mesh, tmp_path: Path) -> None:
    local, _, target = three_clusters(mesh)
    server = mesh.serve([local], local)
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])
    mesh.put(local, secret_with(mesh, target, exec_user(tmp_path / "m", "t")))
    mesh.wait_state(target, "refused")
    assert server.ask("nobody.bar.global").rcode() == dns.rcode.NXDOMAIN


def test_a_secret_fixed_after_a_refusal_makes_its_cluster_join(mesh: Mesh, tmp_path: Path) -> None:
    local, _, target = three_clusters(mesh)
    mesh.serve([local], local, "--serve-stale", "1")
    mesh.put(local, secret_with(mesh, target, exec_user(tmp_path / "m", "t")))
    mesh.wait_state(target, "refused")
    fixed = secret_with(mesh, target, {"token": token_of(mesh, target)})
    mesh.put(local, fixed)
    mesh.wait_answer("web.bar.global", ["192.0.2.2", "192.0.2.3"])
    mesh.delete(local, fixed)  # a removed Secret: its data goes through the stale rules
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])
    mesh.wait_state(target, "absent")


def test_a_serving_cluster_whose_secret_turns_refused_keeps_answering_through_the_stale_window(
    mesh: Mesh, tmp_path: Path
) -> None:
    local, _, target = three_clusters(mesh)
    mesh.serve([local], local, "--serve-stale", "2")
    good = secret_with(mesh, target, {"token": token_of(mesh, target)})
    mesh.put(local, good)
    mesh.wait_answer("web.bar.global", ["192.0.2.2", "192.0.2.3"])
    bad = secret_with(mesh, target, exec_user(tmp_path / "m", "t"))
    bad["metadata"]["name"] = good["metadata"]["name"]
    mesh.put(local, bad)

    def refusal_shown() -> bool:
        rows = [c for c in mesh.table()["clusters"] if c["name"] == target]
        return bool(rows and rows[0]["secretRefused"])

    wait_for(refusal_shown, WAIT, what="the refusal shown beside the serving data")
    assert mesh.answer("web.bar.global") == ["192.0.2.2", "192.0.2.3"]
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])  # after the stale window
    mesh.wait_state(target, "refused")
    assert not (tmp_path / "m").exists()


def test_table_command_lists_a_refused_secret(mesh: Mesh, tmp_path: Path) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    target = mesh.cluster("c", "south", "192.0.2.3")
    mesh.put(local, secret_with(mesh, target, exec_user(tmp_path / "m", "t")))
    result = subprocess.run(
        [sys.executable, "-m", "globaldns", "table", "--kubeconfig",
         str(mesh.kubeconfig([local])), "--local-cluster", local, "--sync-timeout", "5"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if line.startswith(target)]
    assert "refused" in row and "users[0].user.exec" in row
    assert not (tmp_path / "m").exists()


def test_the_allowlist_flag_names_an_unknown_option_and_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "globaldns", "serve", "--mesh", str(REPO / "examples/mesh.yaml"),
         "--allow-remote-kubeconfig", "exec,shell"],
        capture_output=True, text=True, timeout=30, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--allow-remote-kubeconfig" in result.stderr and "token-file" in result.stderr


def test_the_allowlist_option_is_read_from_flag_environment_and_config_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("allowRemoteKubeconfig: [files]\n")

    def allowed(argv: list[str], environ: dict[str, str]) -> Any:
        args = build_parser().parse_args(["serve", *argv])
        return layers(args, environ).build(Settings).kube.allowed

    assert allowed(["--allow-remote-kubeconfig", "exec,token-file"], {}) == {
        Allow.EXEC,
        Allow.TOKEN_FILE,
    }
    assert allowed([], {"GLOBALDNS_ALLOW_REMOTE_KUBECONFIG": "auth-provider"}) == {
        Allow.AUTH_PROVIDER
    }
    assert allowed(["--config", str(config)], {}) == {Allow.FILES}
    assert allowed([], {}) == frozenset()  # nothing allowed


def test_a_secret_printed_by_remote_secret_for_one_cluster_makes_it_join_another(
    mesh: Mesh,
) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    remote = mesh.cluster("b", "east", "192.0.2.2")
    mesh.put(remote, service("bar", "web"), endpoints("bar", "web", True))
    printed = subprocess.run(
        [sys.executable, "-m", "globaldns", "remote-secret",
         "--kubeconfig", str(mesh.kubeconfig([remote])), "--context", remote],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    secret = yaml.safe_load(printed.stdout)
    (document,) = [yaml.safe_load(base64.b64decode(v)) for v in secret["data"].values()]
    token = document["users"][0]["user"]["token"]
    assert token != token_of(mesh, remote)  # the reader account's own, not the admin's
    assert list(secret["data"]) == [remote]
    assert secret["metadata"]["labels"]["istio/multiCluster"] == "true"

    mesh.serve([local], local)
    mesh.put(local, secret)
    mesh.wait_answer("web.bar.global", ["192.0.2.2"])
    assert mesh.control.token_presented(remote, token)
