"""The operator's kustomize overlay, rendered by `kubectl kustomize DIR`, as what `install`
applies instead of the bundled base: limits, image, flags and namespace survive re-runs.

The overlay's output is the operator's own, but it is still checked before anything is applied:
each document an object with apiVersion, kind and name; the globaldns Deployment, Service and
config ConfigMap present (labelled `app.kubernetes.io/name=globaldns`); and the DNS reader Role
still in `kube-system` (kustomize's `namespace:` moves every object, that Role included).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from globaldns.errors import GlobalDnsError
from globaldns.install.kube import Obj

KUSTOMIZE_TIMEOUT = 60.0
MAX_OUTPUT = 16 << 20
OWN_LABEL, OWN_LABEL_VALUE = "app.kubernetes.io/name", "globaldns"
READER_ROLE = "globaldns-coredns-reader"
CONFIG_KEY = "config.yaml"


class OverlayError(GlobalDnsError):
    """The overlay cannot be rendered or lacks what install needs; the message says what."""


def render(directory: Path) -> list[Obj]:
    """The objects `kubectl kustomize DIR` renders, checked as the module says."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise OverlayError(
            f"--kustomize {directory}: kubectl is not on PATH; install kubectl (its kustomize "
            "renders the overlay) or leave --kustomize out"
        )
    try:
        done = subprocess.run(
            [kubectl, "kustomize", str(directory)],
            capture_output=True,
            timeout=KUSTOMIZE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OverlayError(
            f"--kustomize {directory}: kubectl kustomize took over {KUSTOMIZE_TIMEOUT:g}s"
        ) from None
    if done.returncode != 0:
        problem = done.stderr.decode(errors="replace").strip().splitlines()
        raise OverlayError(
            f"--kustomize {directory}: kubectl kustomize failed: {problem[-1] if problem else ''}"
        )
    if len(done.stdout) > MAX_OUTPUT:
        raise OverlayError(f"--kustomize {directory}: the overlay renders over {MAX_OUTPUT} bytes")
    try:
        documents = [d for d in yaml.safe_load_all(done.stdout) if d is not None]
    except yaml.YAMLError as err:
        raise OverlayError(f"--kustomize {directory}: its output is not YAML ({err})") from None
    return check(documents, directory)


def check(documents: list[Any], directory: Path) -> list[Obj]:
    """The documents, once each is an object and globaldns's own parts are there."""
    for doc in documents:
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if not (
            isinstance(meta, dict)
            and isinstance(meta.get("name"), str)
            and isinstance(doc.get("kind"), str)
            and isinstance(doc.get("apiVersion"), str)
        ):
            raise OverlayError(
                f"--kustomize {directory}: a rendered document is not an object with "
                "apiVersion, kind and metadata.name"
            )
    objects: list[Obj] = documents
    for kind in ("Deployment", "Service", "ConfigMap"):
        if not any(o["kind"] == kind and own(o) for o in objects):
            raise OverlayError(
                f"--kustomize {directory}: it renders no {kind} labelled "
                f"{OWN_LABEL}={OWN_LABEL_VALUE}; base it on globaldns's manifests/"
            )
    for obj in objects:
        meta = obj["metadata"]
        if (obj["kind"], meta["name"]) == ("Role", READER_ROLE) and (
            meta.get("namespace") != "kube-system"
        ):
            raise OverlayError(
                f"--kustomize {directory}: Role {READER_ROLE} moved out of kube-system (a "
                "`namespace:` in the overlay moves every object); change globaldns's "
                "namespace with patches on its own objects instead"
            )
    return objects


def own(obj: Obj) -> bool:
    """Whether the object carries globaldns's own label."""
    return bool((obj["metadata"].get("labels") or {}).get(OWN_LABEL) == OWN_LABEL_VALUE)
