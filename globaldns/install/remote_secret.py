"""`globaldns remote-secret`: the Secret another cluster's globaldns needs to read this one.

As `istioctl create-remote-secret` does: in the cluster, a read-only ServiceAccount bound to the
reader ClusterRole (manifests/clusterrole-reader.yaml, the same reads globaldns makes in its own
cluster), a `kubernetes.io/service-account-token` Secret that the token controller fills, and a
kubeconfig carrying only what the remote-kubeconfig allowlist accepts: `server`,
`certificate-authority-data`, `tls-server-name` and `token`. The Secret holding it is labelled
as `--remote-secret-label` selects and keyed by the cluster's name.

`uninstall` takes back what `install --remote-secrets` made (`made_here`): the manifests do not
render these objects, so they are recognised by globaldns's label and a name only globaldns gives.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import yaml

from globaldns import manifests
from globaldns.config import ConfigError
from globaldns.errors import GlobalDnsError
from globaldns.install.kube import Kube, KubeError, Obj, Ref
from globaldns.sources.kubernetes.remote_kubeconfig import check

READER = "globaldns-remote-reader"
READER_ROLE = "globaldns-reader"
NAMESPACE = "globaldns"  # where the reader account lives in the cluster being read
ISTIO_CLUSTER_ANNOTATION = "networking.istio.io/cluster"
LABELS = {"app.kubernetes.io/name": "globaldns"}
SECRET_PREFIX = "globaldns-remote-secret-"
# Where `install --remote-secrets` applies them: its own namespace, or Istio's with the
# istio-remote-secrets component.
SECRET_NAMESPACES = (NAMESPACE, "istio-system")


class RemoteSecretError(GlobalDnsError):
    """The reader account or its token could not be made; the message says why and the fix."""


def labels_of(selector: str) -> dict[str, str]:
    """The labels a Secret needs to match `--remote-secret-label` (`k=v`, `k==v`, `k`)."""
    labels: dict[str, str] = {}
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        key, _, value = term.replace("==", "=").partition("=")
        if term.startswith("!") or "!=" in term:
            raise ConfigError(
                f"--remote-secret-label {selector!r}: {term!r} cannot be met by labels a Secret "
                "carries; use key=value terms"
            )
        labels[key] = value if "=" in term else "true"
    return labels


def reader_objects() -> list[Obj]:
    """The globaldns namespace, the reader ClusterRole, and the reader account with its binding
    and token Secret."""
    base = {Ref.of(obj): obj for obj in manifests.load()}
    meta = {"namespace": NAMESPACE, "labels": LABELS}
    return [
        base[Ref("v1", "Namespace", "", NAMESPACE)],
        base[Ref("rbac.authorization.k8s.io/v1", "ClusterRole", "", READER_ROLE)],
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": READER, **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": READER, "labels": LABELS},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": READER_ROLE,
            },
            "subjects": [{"kind": "ServiceAccount", "name": READER, "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": f"{READER}-token",
                **meta,
                "annotations": {"kubernetes.io/service-account.name": READER},
            },
        },
    ]


def reader_refs() -> list[Ref]:
    """The objects only `remote_secret` makes (the namespace and ClusterRole are the manifests')."""
    return [Ref.of(obj) for obj in reader_objects()[2:]]


async def made_here(kube: Kube) -> list[Ref]:
    """What `install --remote-secrets` may have made in this cluster, in the order it made them:
    the reader account, binding and token, then the remote Secrets applied here.

    A Secret counts only with globaldns's label and the name globaldns gives the Secret of the
    cluster its annotation names, so Istio's own remote Secrets (same namespace, same
    `istio/multiCluster` label) never do. Whether each object still carries the label when it
    is deleted is checked by the caller, as for every object uninstall deletes.
    """
    selector = ",".join(f"{key}={value}" for key, value in LABELS.items())
    secrets: list[Ref] = []
    for namespace in SECRET_NAMESPACES:
        try:
            listed = await kube.list("v1", "Secret", namespace, selector)
        except KubeError as err:
            if err.status == 404:  # no such namespace: nothing was applied there
                continue
            raise
        for secret in listed:
            meta = secret.get("metadata") or {}
            cluster = (meta.get("annotations") or {}).get(ISTIO_CLUSTER_ANNOTATION)
            if isinstance(cluster, str) and meta.get("name") == SECRET_PREFIX + cluster:
                secrets.append(Ref("v1", "Secret", namespace, SECRET_PREFIX + cluster))
    return [*reader_refs(), *sorted(secrets, key=str)]


async def reader_token(kube: Kube, timeout: float) -> str:
    """Apply the reader objects and wait (bounded) for the token controller's token."""
    objects = reader_objects()
    for obj in objects:
        await kube.apply(obj)
    token_secret = Ref.of(objects[-1])
    deadline = time.monotonic() + timeout
    while True:
        found = await kube.get(token_secret)
        token = ((found or {}).get("data") or {}).get("token")
        if token:
            return base64.b64decode(token).decode()
        if time.monotonic() >= deadline:
            raise RemoteSecretError(
                f"{token_secret} got no token within {timeout:g}s; check that the cluster's "
                "token controller runs (kube-controller-manager) and try again"
            )
        await asyncio.sleep(0.2)


def kubeconfig_for(kube: Kube, cluster: str, token: str) -> dict[str, Any]:
    """A kubeconfig for `cluster` as this client reaches it, with only allowlisted fields."""
    configuration = kube.api.configuration
    entry: dict[str, str] = {"server": str(configuration.host)}
    if configuration.ssl_ca_cert:  # the loader's file of the kubeconfig's CA, data or path
        pem = Path(configuration.ssl_ca_cert).read_bytes()
        entry["certificate-authority-data"] = base64.b64encode(pem).decode()
    if getattr(configuration, "tls_server_name", None):
        entry["tls-server-name"] = str(configuration.tls_server_name)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": cluster,
        "clusters": [{"name": cluster, "cluster": entry}],
        "users": [{"name": cluster, "user": {"token": token}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
    }
    check(document)  # what another cluster's globaldns will accept
    return document


def secret_for(cluster: str, kubeconfig: dict[str, Any], namespace: str, selector: str) -> Obj:
    """The Secret to apply in another cluster: labelled to be read, keyed by the cluster."""
    text = yaml.safe_dump(kubeconfig, sort_keys=False)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": SECRET_PREFIX + cluster,
            "namespace": namespace,
            "labels": {**LABELS, **labels_of(selector)},
            "annotations": {ISTIO_CLUSTER_ANNOTATION: cluster},
        },
        "data": {cluster: base64.b64encode(text.encode()).decode()},
    }


async def remote_secret(
    kube: Kube, cluster: str, namespace: str, selector: str, timeout: float
) -> Obj:
    """Make the reader account in the cluster `kube` reaches; the Secret to apply elsewhere."""
    token = await reader_token(kube, timeout)
    return secret_for(cluster, kubeconfig_for(kube, cluster, token), namespace, selector)
