"""`globaldns remote-secret` against an emulated cluster: a read-only account with its own
token, and a Secret whose kubeconfig passes the remote allowlist with nothing allowed."""

from __future__ import annotations

import base64

import yaml

from globaldns.sources.kubernetes.remote_kubeconfig import accept

from .conftest import Clusters


def test_it_prints_a_labelled_secret_keyed_by_the_cluster_with_an_allowlisted_kubeconfig(
    cluster: Clusters,
) -> None:
    (name,) = cluster.names
    label = "istio/multiCluster=true,team==mesh"
    run = cluster.globaldns(
        "remote-secret", "--context", name, "--name", "east", "--remote-secret-label", label
    )
    assert run.status == 0, run.err
    secret = yaml.safe_load(run.out)
    assert (secret["kind"], secret["metadata"]["namespace"]) == ("Secret", "globaldns")
    assert {"istio/multiCluster": "true", "team": "mesh"}.items() <= (
        secret["metadata"]["labels"].items()
    )
    accepted = accept(secret["data"]["east"])
    assert accepted.cluster == "east"
    user = yaml.safe_load(base64.b64decode(secret["data"]["east"]))["users"][0]["user"]
    assert list(user) == ["token"]


def test_the_reader_account_is_bound_to_the_reader_cluster_role_only(cluster: Clusters) -> None:
    (name,) = cluster.names
    assert cluster.globaldns("remote-secret", "--context", name).status == 0
    accounts = cluster.control.objects(name, "v1", "ServiceAccount", "globaldns")
    assert "globaldns-remote-reader" in [a["metadata"]["name"] for a in accounts]
    bindings = [
        b
        for b in cluster.control.objects(name, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding")
        if any(s["name"] == "globaldns-remote-reader" for s in b["subjects"])
    ]
    assert [b["roleRef"]["name"] for b in bindings] == ["globaldns-reader"]


def test_it_names_a_missing_context_and_exits_2(cluster: Clusters) -> None:
    run = cluster.globaldns("remote-secret", "--context", "nowhere")
    assert run.status == 2
    assert "nowhere" in run.err


def test_a_label_selector_no_secret_can_meet_is_refused_before_any_write(
    cluster: Clusters,
) -> None:
    (name,) = cluster.names
    cluster.control.clear_requests(name)
    run = cluster.globaldns("remote-secret", "--context", name, "--remote-secret-label", "!x")
    assert run.status == 2
    assert "--remote-secret-label" in run.err
    assert cluster.writes(name) == []
