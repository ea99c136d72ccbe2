"""`globaldns install` / `uninstall`: every selected kubeconfig context, side by side.

Clusters run concurrently, each with its own client; a progress line per step goes to stderr
(prefixed with the context), diffs and the summary table to stdout. One cluster failing never
stops the others; the exit status is 0 only when every cluster succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kubernetes_asyncio import config as kube_config

from globaldns.config import ConfigError, add_options, resolve
from globaldns.install import overlay
from globaldns.install.contexts import kubeconfig_path, named_contexts, select_contexts
from globaldns.install.exchange import exchange_plan, exchange_secrets, run_remote_secret
from globaldns.install.flags import option_groups, options_of
from globaldns.install.installer import install
from globaldns.install.kube import Kube, KubeError, Ref
from globaldns.install.options import InstallError, InstallOptions, Outcome
from globaldns.install.overlay import OverlayError
from globaldns.install.render import render
from globaldns.install.uninstaller import uninstall
from globaldns.sources.kubernetes import clients

COMMANDS = ("install", "uninstall", "remote-secret")


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


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run `install` or `uninstall` as parsed; the process exit status.

    `out` and `err` default to the streams current at the call, not at import.
    """
    out, err = out or sys.stdout, err or sys.stderr
    if args.command == "remote-secret":
        return run_remote_secret(args, out, err)
    try:
        settings = resolve(args, options_of(args.command))
        kubeconfig = kubeconfig_path(settings)
        rendering = args.command == "install" and settings["render"]
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
    out.write(summary(args.command, settings["dry_run"], results))
    exchanged = True
    if args.command == "install" and settings["remote_secrets"]:
        wired = [result.context for result in results if result.ok]
        if settings["dry_run"]:
            out.write(exchange_plan(settings, wired))
        else:
            exchanged = asyncio.run(exchange_secrets(kubeconfig, settings, wired, out, err))
    return 0 if exchanged and all(result.ok for result in results) else 1


def _overlay_objects(command: str, settings: dict[str, Any]) -> tuple[Ref, ...]:
    """The objects of `--kustomize DIR`, rendered once up front so a broken overlay stops
    before any cluster is contacted; components then belong in the overlay."""
    directory = settings["kustomize"]
    if directory is None:
        return ()
    if command == "install" and (settings["component"] or settings["keep_wired"]):
        raise ConfigError(
            "--kustomize with --component or --keep-wired: add the components to the "
            "overlay's `components:` (e.g. <path>/manifests/components/keep-wired) instead"
        )
    return tuple(Ref.of(obj) for obj in overlay.render(Path(directory)))


async def _run_all(
    command: str,
    kubeconfig: Path,
    settings: dict[str, Any],
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
    settings: dict[str, Any],
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
                options = InstallOptions.from_settings(settings, context)
                outcome = await install(kube, options, say)
            else:
                zone, dry_run = settings["zone"], settings["dry_run"]
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
