"""Remote Secrets, cluster by cluster: `globaldns remote-secret` prints one cluster's, and
`install --remote-secrets` applies each wired cluster's in every other."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any, TextIO

import yaml
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient

from globaldns.config import ConfigError, resolve
from globaldns.install.contexts import kubeconfig_path, one_context
from globaldns.install.flags import ISTIO_COMPONENT, options_of
from globaldns.install.kube import Kube, KubeError
from globaldns.install.remote_secret import (
    NAMESPACE,
    READER,
    SECRET_PREFIX,
    RemoteSecretError,
    labels_of,
    remote_secret,
)
from globaldns.sources.kubernetes import clients
from globaldns.sources.kubernetes.options import DEFAULT_NAMESPACE, REMOTE_SECRET_LABEL


def run_remote_secret(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`globaldns remote-secret`: the Secret as YAML on stdout, or one line saying why not."""
    try:
        settings = resolve(args, options_of(args.command))
        kubeconfig = kubeconfig_path(settings)
        context = one_context(settings, clients.load_kubeconfig(kubeconfig), kubeconfig)
        labels_of(settings["remote_secret_label"])  # a selector no Secret can meet fails first
        name = settings["name"] or context
        namespace = settings["remote_secret_namespace"]
        secret = asyncio.run(
            _secret_of(kubeconfig, context, name, namespace, settings["remote_secret_label"],
                       settings["timeout"])
        )  # fmt: skip
    except (ConfigError, clients.KubeconfigError, RemoteSecretError, KubeError) as error:
        print(f"globaldns remote-secret: {error}", file=err)
        return 2 if isinstance(error, ConfigError | clients.KubeconfigError) else 1
    out.write(yaml.safe_dump(secret, sort_keys=False))
    return 0


async def _client(kubeconfig: Path, context: str) -> ApiClient:
    try:
        return await kube_config.new_client_from_config(
            config_file=str(kubeconfig), context=context, persist_config=False
        )
    except (kube_config.ConfigException, ValueError, KeyError, TypeError) as error:
        raise RemoteSecretError(f"context {context}: cannot load it: {error}") from None


async def _secret_of(
    kubeconfig: Path, context: str, name: str, namespace: str, selector: str, timeout: float
) -> dict[str, Any]:
    async with await _client(kubeconfig, context) as api:
        return await remote_secret(Kube(api), name, namespace, selector, timeout)


def _secrets_namespace(settings: dict[str, Any]) -> str:
    """Where the remote Secrets go: Istio's namespace with its component, else globaldns's."""
    return "istio-system" if ISTIO_COMPONENT in settings["component"] else DEFAULT_NAMESPACE


def exchange_plan(settings: dict[str, Any], contexts: list[str]) -> str:
    """What `exchange_secrets` would do, a line per cluster, for `install --dry-run`."""
    if len(contexts) < 2:
        return "--remote-secrets: would exchange nothing: fewer than two clusters to wire\n"
    namespace = _secrets_namespace(settings)
    return "".join(
        f"{context}: would make the reader account {NAMESPACE}/{READER} and apply "
        f"{SECRET_PREFIX}{context} in {namespace} of "
        f"{', '.join(other for other in contexts if other != context)}\n"
        for context in contexts
    )


async def exchange_secrets(
    kubeconfig: Path, settings: dict[str, Any], contexts: list[str], out: TextIO, err: TextIO
) -> bool:
    """Each cluster's remote Secret applied in every other one; a line per failure."""
    namespace = _secrets_namespace(settings)
    made: dict[str, dict[str, Any]] = {}
    ok = True
    for context in contexts if len(contexts) > 1 else ():  # one cluster reads no other
        try:
            made[context] = await _secret_of(
                kubeconfig, context, context, namespace, REMOTE_SECRET_LABEL, settings["timeout"]
            )
        except (RemoteSecretError, KubeError) as error:
            print(f"{context}: FAILED: remote Secret: {error}", file=err)
            ok = False
    for reader in contexts:
        secrets = [secret for context, secret in made.items() if context != reader]
        if not secrets:
            continue
        try:
            async with await _client(kubeconfig, reader) as api:
                kube = Kube(api)
                for secret in secrets:
                    await kube.apply(secret)
        except (RemoteSecretError, KubeError) as error:
            print(f"{reader}: FAILED: applying remote Secrets: {error}", file=err)
            ok = False
            continue
        names = ", ".join(s["metadata"]["name"] for s in secrets)
        out.write(f"{reader}: remote Secrets in {namespace}: {names}\n")
    return ok
