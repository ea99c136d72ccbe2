"""Which kubeconfig, and which of its contexts, `install`, `uninstall` and `remote-secret` act
on; each refusal names the fix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from globaldns.config import ConfigError
from globaldns.install.flags import ALL_CONTEXTS
from globaldns.sources.kubernetes import clients


def kubeconfig_path(settings: dict[str, Any]) -> Path:
    """`--kubeconfig`, else the first file of `$KUBECONFIG`, else `~/.kube/config`."""
    if settings["kubeconfig"] is not None:
        return Path(settings["kubeconfig"])
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(first or "~/.kube/config").expanduser()


def named_contexts(settings: dict[str, Any]) -> list[str]:
    """The contexts `--context` and `--contexts NAME,NAME` name (none for `all` or unset)."""
    spec = settings["contexts"].strip()
    if spec == ALL_CONTEXTS:
        return []
    wanted = [*settings["context"], *(n.strip() for n in spec.split(",") if n.strip())]
    return _one_local_cluster(settings, list(dict.fromkeys(wanted)))


def select_contexts(
    settings: dict[str, Any], document: dict[str, Any], kubeconfig: Path
) -> list[str]:
    """`--contexts all`, the named ones (with any `--context`), or the current context."""
    names = clients.contexts(document, (), str(kubeconfig))
    if not names:
        raise ConfigError(
            f"{kubeconfig}: the kubeconfig has no contexts; add one per cluster "
            "(kubectl config set-context) or give --kubeconfig PATH of one that has them"
        )
    if settings["contexts"].strip() == ALL_CONTEXTS:
        return _one_local_cluster(settings, names)
    current = document.get("current-context")
    chosen = named_contexts(settings) or ([current] if current in names else [])
    missing = [name for name in chosen if name not in names]
    if missing or not chosen:
        raise ConfigError(
            f"no context(s) {missing or ''} in {kubeconfig}; it has {names} "
            f"(use --contexts {ALL_CONTEXTS} or --contexts NAME,NAME)"
        )
    return chosen  # named_contexts checked --local-cluster; the current context is one


def _one_local_cluster(settings: dict[str, Any], chosen: list[str]) -> list[str]:
    named = settings.get("cluster_id") or settings["local_cluster"]
    if named and len(chosen) > 1:
        raise ConfigError(
            "--cluster-id (or --local-cluster) names one cluster but several contexts are "
            "selected; leave it out and each cluster is named by its Istio CLUSTER_ID or context"
        )
    return chosen


def one_context(settings: dict[str, Any], document: dict[str, Any], kubeconfig: Path) -> str:
    """The `--context` named (the first, if several), else the kubeconfig's current one."""
    wanted = tuple(settings["context"][:1])
    names = clients.contexts(document, wanted, str(kubeconfig))
    context = wanted[0] if wanted else document.get("current-context")
    if context not in names:
        raise ConfigError(f"{kubeconfig} has no current context; name one with --context NAME")
    return str(context)
