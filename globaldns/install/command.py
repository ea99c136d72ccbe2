"""`globaldns install` / `uninstall`: every selected kubeconfig context, side by side.

Clusters run concurrently, each with its own client; a progress line per step goes to stderr
(prefixed with the context), diffs and the summary table to stdout. One cluster failing never
stops the others; the exit status is 0 only when every cluster succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient

from globaldns.config import ConfigError, Layers, add_options
from globaldns.config.values import DEFAULT_NAMESPACE
from globaldns.install import overlay
from globaldns.install.installer import install
from globaldns.install.kube import Kube, KubeError, Ref
from globaldns.install.options import InstallError, Outcome
from globaldns.install.overlay import OverlayError
from globaldns.install.remote_secret import (
    NAMESPACE,
    READER,
    SECRET_PREFIX,
    RemoteSecretError,
    labels_of,
    remote_secret,
)
from globaldns.install.render import render
from globaldns.install.settings import (
    ALL_CONTEXTS,
    COMMANDS,
    ISTIO_COMPONENT,
    InstallSettings,
    RemoteSecretSettings,
    option_groups,
)
from globaldns.install.uninstaller import uninstall
from globaldns.sources.kubernetes import clients
from globaldns.sources.kubernetes.options import REMOTE_SECRET_LABEL

__all__ = ["COMMANDS", "add_parsers", "run"]


def add_parsers(commands: Any) -> None:
    """Add `install` and `uninstall` to the `globaldns` subcommands."""
    install_cmd = commands.add_parser(
        "install",
        help="deploy globaldns and wire CoreDNS to it",
        description="Apply the manifests in each selected context and make its DNS (CoreDNS, "
        "AKS coredns-custom or kube-dns) forward the zone to the globaldns Service.",
    )
    uninstall_cmd = commands.add_parser(
        "uninstall",
        help="unwire CoreDNS and delete what install applied",
        description="Restore each selected context's DNS configuration as it was before install "
        "and delete the objects install applied.",
    )
    remote_cmd = commands.add_parser(
        "remote-secret",
        help="print the Secret other clusters' globaldns need to read this cluster",
        description="Make a read-only ServiceAccount (the reader ClusterRole) in the context's "
        "cluster and print, as YAML, the Secret holding a kubeconfig with its token, for "
        "`kubectl apply -f -` in each other cluster (as istioctl create-remote-secret does).",
    )
    for command, parser in (
        ("install", install_cmd),
        ("uninstall", uninstall_cmd),
        ("remote-secret", remote_cmd),
    ):
        for title, options in option_groups(command):
            add_options(parser, options, title)


@dataclass(frozen=True)
class Result:
    context: str
    ok: bool
    outcome: Outcome


def run(
    args: argparse.Namespace, given: Layers, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run `install` or `uninstall` as parsed, with the settings `given`; the process exit
    status.

    `out` and `err` default to the streams current at the call, not at import.
    """
    out, err = out or sys.stdout, err or sys.stderr
    if args.command == "remote-secret":
        return run_remote_secret(given, out, err)
    try:
        settings = given.build(InstallSettings)
        kubeconfig = kubeconfig_path(settings)
        rendering = args.command == "install" and settings.render
        # A render needs the kubeconfig only to list contexts nobody named.
        contexts = (rendering and named_contexts(settings)) or select_contexts(
            settings, clients.load_kubeconfig(kubeconfig), kubeconfig
        )
        if rendering:
            out.write(render(settings, contexts))
            return 0
        overlay_objects = _overlay_objects(args.command, settings)
    except (ConfigError, OverlayError) as error:
        print(f"globaldns {args.command}: {error}", file=err)
        return 2
    except clients.KubeconfigError as error:
        print(f"globaldns {args.command}: {error}", file=err)  # it names the fix
        return 2
    runs = _run_all(args.command, kubeconfig, settings, contexts, overlay_objects, err)
    results = asyncio.run(runs)
    for result in results:
        if result.outcome.diff:
            out.write(f"# {result.context}\n{result.outcome.diff}")
    out.write(summary(args.command, settings.dry_run, results))
    exchanged = True
    if args.command == "install" and settings.remote_secrets:
        wired = [result.context for result in results if result.ok]
        if settings.dry_run:
            out.write(exchange_plan(settings, wired))
        else:
            exchanged = asyncio.run(exchange_secrets(kubeconfig, settings, wired, out, err))
    return 0 if exchanged and all(result.ok for result in results) else 1


def run_remote_secret(given: Layers, out: TextIO, err: TextIO) -> int:
    """`globaldns remote-secret`: the Secret as YAML on stdout, or one line saying why not."""
    try:
        settings = given.build(RemoteSecretSettings)
        kubeconfig = kubeconfig_path(settings)
        context = _one_context(settings, clients.load_kubeconfig(kubeconfig), kubeconfig)
        labels_of(settings.label)  # a selector no Secret can meet fails first
        name = settings.name or context
        namespace = settings.namespace
        secret = asyncio.run(
            _secret_of(kubeconfig, context, name, namespace, settings.label,
                       settings.timeout)
        )  # fmt: skip
    except (ConfigError, clients.KubeconfigError, RemoteSecretError, KubeError) as error:
        print(f"globaldns remote-secret: {error}", file=err)
        return 2 if isinstance(error, ConfigError | clients.KubeconfigError) else 1
    out.write(yaml.safe_dump(secret, sort_keys=False))
    return 0


def _one_context(settings: RemoteSecretSettings, document: dict[str, Any], kubeconfig: Path) -> str:
    """The `--context` named (the first, if several), else the kubeconfig's current one."""
    wanted = tuple(settings.context[:1])
    names = clients.contexts(document, wanted, str(kubeconfig))
    context = wanted[0] if wanted else document.get("current-context")
    if context not in names:
        raise ConfigError(f"{kubeconfig} has no current context; name one with --context NAME")
    return str(context)


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


def _secrets_namespace(settings: InstallSettings) -> str:
    """Where the remote Secrets go: Istio's namespace with its component, else globaldns's."""
    return "istio-system" if ISTIO_COMPONENT in settings.component else DEFAULT_NAMESPACE


def exchange_plan(settings: InstallSettings, contexts: list[str]) -> str:
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
    kubeconfig: Path, settings: InstallSettings, contexts: list[str], out: TextIO, err: TextIO
) -> bool:
    """Each cluster's remote Secret applied in every other one; a line per failure."""
    namespace = _secrets_namespace(settings)
    made: dict[str, dict[str, Any]] = {}
    ok = True
    for context in contexts if len(contexts) > 1 else ():  # one cluster reads no other
        try:
            made[context] = await _secret_of(
                kubeconfig, context, context, namespace, REMOTE_SECRET_LABEL, settings.timeout
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


def _overlay_objects(command: str, settings: InstallSettings) -> tuple[Ref, ...]:
    """The objects of `--kustomize DIR`, rendered once up front so a broken overlay stops
    before any cluster is contacted; components then belong in the overlay."""
    directory = settings.kustomize
    if directory is None:
        return ()
    if command == "install" and (settings.component or settings.keep_wired):
        raise ConfigError(
            "--kustomize with --component or --keep-wired: add the components to the "
            "overlay's `components:` (e.g. <path>/manifests/components/keep-wired) instead"
        )
    return tuple(Ref.of(obj) for obj in overlay.render(Path(directory)))


def named_contexts(settings: InstallSettings) -> list[str]:
    """The contexts `--context` and `--contexts NAME,NAME` name (none for `all` or unset)."""
    spec = settings.contexts.strip()
    if spec == ALL_CONTEXTS:
        return []
    wanted = [*settings.context, *(n.strip() for n in spec.split(",") if n.strip())]
    return _one_local_cluster(settings, list(dict.fromkeys(wanted)))


def kubeconfig_path(settings: InstallSettings | RemoteSecretSettings) -> Path:
    """`--kubeconfig`, else the first file of `$KUBECONFIG`, else `~/.kube/config`."""
    if settings.kubeconfig is not None:
        return settings.kubeconfig
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(first or "~/.kube/config").expanduser()


def select_contexts(
    settings: InstallSettings, document: dict[str, Any], kubeconfig: Path
) -> list[str]:
    """`--contexts all`, the named ones (with any `--context`), or the current context."""
    names = clients.contexts(document, (), str(kubeconfig))
    if not names:
        raise ConfigError(
            f"{kubeconfig}: the kubeconfig has no contexts; add one per cluster "
            "(kubectl config set-context) or give --kubeconfig PATH of one that has them"
        )
    if settings.contexts.strip() == ALL_CONTEXTS:
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


def _one_local_cluster(settings: InstallSettings, chosen: list[str]) -> list[str]:
    named = settings.named_cluster
    if named and len(chosen) > 1:
        raise ConfigError(
            "--cluster-id (or --local-cluster) names one cluster but several contexts are "
            "selected; leave it out and each cluster is named by its Istio CLUSTER_ID or context"
        )
    return chosen


async def _run_all(
    command: str,
    kubeconfig: Path,
    settings: InstallSettings,
    contexts: list[str],
    overlay_objects: tuple[Ref, ...],
    err: TextIO,
) -> list[Result]:
    runs = (
        _run_one(command, kubeconfig, settings, name, overlay_objects, err) for name in contexts
    )
    return list(await asyncio.gather(*runs))


async def _run_one(
    command: str,
    kubeconfig: Path,
    settings: InstallSettings,
    context: str,
    overlay_objects: tuple[Ref, ...],
    err: TextIO,
) -> Result:
    def say(message: str) -> None:
        print(f"{context}: {message}", file=err, flush=True)

    try:
        api = await kube_config.new_client_from_config(
            config_file=str(kubeconfig),
            context=context,
            persist_config=False,
        )
    except (kube_config.ConfigException, ValueError, KeyError, TypeError) as error:
        say(f"FAILED: cannot load the context: {error}")
        return Result(context, False, Outcome(False, note=f"cannot load the context: {error}"))
    try:
        async with api:
            kube = Kube(api)
            if command == "install":
                options = settings.for_context(context)
                outcome = await install(kube, options, say)
            else:
                zone, dry_run = settings.zone, settings.dry_run
                outcome = await uninstall(kube, zone, dry_run, say, overlay_objects)
    except (InstallError, KubeError) as error:
        say(f"FAILED: {error}")
        return Result(context, False, Outcome(False, note=str(error)))
    say("done")
    return Result(context, True, outcome)


def summary(command: str, dry_run: bool, results: Sequence[Result]) -> str:
    """One row per cluster: context, result, how DNS is wired, the address, and notes."""
    done = {"install": "installed", "uninstall": "uninstalled"}[command]
    rows = [("CONTEXT", "RESULT", "VIA", "ADDRESS", "NOTE")]
    for result in results:
        outcome = result.outcome
        if not result.ok:
            status = "FAILED"
        elif dry_run:
            status = "would change" if outcome.changed else "unchanged"
        else:
            status = done if outcome.changed else "unchanged"
        rows.append((result.context, status, outcome.via, outcome.address, outcome.note))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    ]
    failed = sum(not result.ok for result in results)
    total = f"{len(results) - failed}/{len(results)} clusters ok" + (
        f", {failed} failed" if failed else ""
    )
    return "\n".join(line.rstrip() for line in lines) + f"\n{total}\n"
