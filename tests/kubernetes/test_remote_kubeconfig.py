"""The remote-kubeconfig allowlist: what a plain API connection needs passes; every option that
runs a command, reads a file, sends other credentials or weakens TLS is refused by name unless
allowed; anything unknown or malformed is refused. Checked on the decoded document."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from globaldns.errors import GlobalDnsError
from globaldns.sources.kubernetes.remote_kubeconfig import (
    Allow,
    Refusal,
    RemoteKubeconfigRefused,
    accept,
    check,
)

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()


def kubeconfig(
    cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What `istioctl create-remote-secret` writes, with these cluster and user fields added."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": "east",
        "clusters": [
            {"name": "east", "cluster": {"server": "https://10.0.0.1:6443",
                                         "certificate-authority-data": CA, **(cluster or {})}}
        ],
        "users": [{"name": "east", "user": {"token": "abc", **(user or {})}}],
        "contexts": [{"name": "east", "context": {"cluster": "east", "user": "east"}}],
    }  # fmt: skip


def encoded(document: Any) -> str:
    return base64.b64encode(yaml.safe_dump(document).encode()).decode()


def refusal(document: Any, allowed: tuple[Allow, ...] = ()) -> RemoteKubeconfigRefused:
    with pytest.raises(RemoteKubeconfigRefused) as refused:
        check(document, allowed)
    return refused.value


def test_what_istioctl_writes_is_accepted_with_its_cluster() -> None:
    accepted = accept(encoded(kubeconfig()))
    assert (accepted.cluster, accepted.insecure) == ("east", False)


def test_client_certificates_and_a_tls_server_name_are_accepted() -> None:
    document = kubeconfig({"tls-server-name": "kubernetes"}, {"client-certificate-data": CA,
                                                               "client-key-data": CA})  # fmt: skip
    assert check(document).cluster == "east"


REFUSED = [
    ("users", {"exec": {"command": "sh", "args": ["-c", "id"]}}, Allow.EXEC, "exec"),
    ("users", {"auth-provider": {"name": "oidc"}}, Allow.AUTH_PROVIDER, "auth-provider"),
    ("users", {"tokenFile": "/var/run/secrets/token"}, Allow.TOKEN_FILE, "tokenFile"),
    ("users", {"username": "admin"}, Allow.BASIC_AUTH, "username"),
    ("users", {"password": "pw"}, Allow.BASIC_AUTH, "password"),
    ("users", {"client-certificate": "/c.pem"}, Allow.FILES, "client-certificate"),
    ("users", {"client-key": "/k.pem"}, Allow.FILES, "client-key"),
    ("users", {"as": "system:admin"}, Allow.IMPERSONATE, "as"),
    ("users", {"as-groups": ["system:masters"]}, Allow.IMPERSONATE, "as-groups"),
    ("clusters", {"certificate-authority": "/ca.pem"}, Allow.FILES, "certificate-authority"),
    ("clusters", {"insecure-skip-tls-verify": True}, Allow.INSECURE_SKIP_TLS_VERIFY,
     "insecure-skip-tls-verify"),
    ("clusters", {"proxy-url": "http://proxy:3128"}, Allow.PROXY_URL, "proxy-url"),
]  # fmt: skip


@pytest.mark.parametrize(("section", "fields", "option", "field"), REFUSED)
def test_each_option_is_refused_naming_its_field_and_reason(
    section: str, fields: dict[str, Any], option: Allow, field: str
) -> None:
    document = kubeconfig(**{section[:-1]: fields})
    refused = refusal(document)
    assert refused.field == f"{section}[0].{section[:-1]}.{field}"
    assert refused.reason == option
    assert f"--allow-remote-kubeconfig {option.value}" in str(refused)


@pytest.mark.parametrize(("section", "fields", "option", "field"), REFUSED)
def test_each_option_is_accepted_when_the_operator_allows_it(
    section: str, fields: dict[str, Any], option: Allow, field: str
) -> None:
    assert check(kubeconfig(**{section[:-1]: fields}), (option,)).cluster == "east"


def test_an_allowed_insecure_cluster_is_flagged_so_it_can_be_warned_about() -> None:
    document = kubeconfig({"insecure-skip-tls-verify": True})
    assert check(document, (Allow.INSECURE_SKIP_TLS_VERIFY,)).insecure


def test_insecure_skip_tls_verify_false_keeps_tls_on_and_is_accepted() -> None:
    assert not check(kubeconfig({"insecure-skip-tls-verify": False})).insecure


def test_another_option_allowed_does_not_allow_exec() -> None:
    document = kubeconfig(user={"exec": {"command": "id"}})
    assert refusal(document, (Allow.TOKEN_FILE, Allow.FILES)).reason == Allow.EXEC


def test_an_entry_the_current_context_does_not_use_is_checked_too() -> None:
    document = kubeconfig()
    document["users"].append({"name": "other", "user": {"exec": {"command": "id"}}})
    assert refusal(document).field == "users[1].user.exec"


@pytest.mark.parametrize(
    ("where", "field"),
    [("top", "extensions"), ("cluster", "disable-compression"), ("user", "tokenfile"),
     ("context", "extensions")],
)  # fmt: skip
def test_an_unknown_field_is_refused_whatever_is_allowed(where: str, field: str) -> None:
    document = kubeconfig()
    target = {
        "top": document,
        "cluster": document["clusters"][0]["cluster"],
        "user": document["users"][0]["user"],
        "context": document["contexts"][0]["context"],
    }[where]
    target[field] = "x"
    refused = refusal(document, tuple(Allow))
    assert (refused.reason, refused.field.rsplit(".", 1)[-1]) == (Refusal.UNKNOWN_FIELD, field)


def test_a_hostile_field_name_is_shown_quoted_on_one_line_and_bounded() -> None:
    document = kubeconfig(user={"evil\nERROR forged log line " + "x" * 200: 1})
    message = str(refusal(document))
    assert "\n" not in message
    assert len(message) < 200


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        base64.b64encode(b"[unclosed").decode(),
        base64.b64encode(b"\xff\xfe\x00garbage").decode(),
        base64.b64encode(b"[" * 10_000 + b"]" * 10_000).decode(),
        "A" * (1024 * 1024 + 4),
    ],
    ids=["not-base64", "not-yaml", "not-text", "nested-too-deep", "too-large"],
)
def test_a_value_that_is_not_a_kubeconfig_is_refused_as_malformed(value: str) -> None:
    with pytest.raises(RemoteKubeconfigRefused) as refused:
        accept(value)
    assert refused.value.reason == Refusal.MALFORMED


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update({"current-context": "west"}), "current-context"),
        (lambda d: d["contexts"][0]["context"].update(cluster="west"), "contexts['east'].cluster"),
        (lambda d: d["contexts"][0]["context"].update(user="west"), "contexts['east'].user"),
        (lambda d: d["clusters"][0]["cluster"].update(server=["x"]), "clusters[0].cluster.server"),
        (lambda d: d["users"][0]["user"].update(token=None), "users[0].user.token"),
        (
            lambda d: d["clusters"][0]["cluster"].update({"certificate-authority-data": "%%"}),
            "clusters[0].cluster.certificate-authority-data",
        ),
        (lambda d: d.update(users={"east": {}}), "users"),
        (lambda d: d["users"].append(d["users"][0]), "users[1].name"),
    ],
    ids=["no-such-context", "no-such-cluster", "no-such-user", "server-not-text",
         "token-not-text", "ca-not-base64", "users-not-a-list", "user-named-twice"],
)  # fmt: skip
def test_a_malformed_document_is_refused_naming_the_field(change: Any, field: str) -> None:
    document = kubeconfig()
    change(document)
    refused = refusal(document)
    assert (refused.reason, refused.field) == (Refusal.MALFORMED, field)


def test_refusals_share_the_root_error() -> None:
    assert issubclass(RemoteKubeconfigRefused, GlobalDnsError)
