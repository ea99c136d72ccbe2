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
from typing import Any, TextIO

from kubernetes_asyncio import config as kube_config

from globaldns.config import (
    SOURCE_OPTIONS,
    ConfigError,
    Option,
    add_options,
    flag,
    resolve,
    seconds,
    text,
)
from globaldns.install.installer import InstallError, InstallOptions, Outcome, install, uninstall
from globaldns.install.kube import Kube, KubeError
from globaldns.sources.kubernetes import KUBERNETES_OPTIONS

COMMANDS = ("install", "uninstall")
ALL_CONTEXTS = "all"

CONTEXTS = Option(
    "--contexts",
    text,
    "",
    f"contexts to act on: `{ALL_CONTEXTS}` or NAME,NAME (default: --context, else the current)",
)
DRY_RUN = Option(
    "--dry-run", flag, False, "print the changes as a diff; write nothing", switch=True
)
INSTALL_OPTIONS = (
    CONTEXTS,
    DRY_RUN,
    Option("--image", text, None, "image the globaldns Deployment runs (default: the manifests')"),
    Option(
        "--keep-wired",
        flag,
        False,
        "also apply components/keep-wired: the server puts its CoreDNS block back",
        switch=True,
    ),
    Option("--timeout", seconds, 60.0, "seconds to wait for the Service's ClusterIP"),
)
UNINSTALL_OPTIONS = (CONTEXTS, DRY_RUN)


def options_of(command: str) -> tuple[Option, ...]:
    """The same source flags as `serve` and `table`, plus the command's own."""
    own = INSTALL_OPTIONS if command == "install" else UNINSTALL_OPTIONS
    return SOURCE_OPTIONS + KUBERNETES_OPTIONS + own


def add_parsers(commands: Any) -> None:
    """Add `install` and `uninstall` to the `globaldns` subcommands."""
    install_cmd = commands.add_parser(
        "install",
        help="deploy globaldns and wire CoreDNS to it",
        description="Apply the manifests in each selected context and make its DNS (CoreDNS, "
        "AKS coredns-custom or kube-dns) forward the zone to the globaldns Service.",
    )
    add_options(install_cmd, options_of("install"))
    uninstall_cmd = commands.add_parser(
        "uninstall",
        help="unwire CoreDNS and delete what install applied",
        description="Restore each selected context's DNS configuration as it was before install "
        "and delete the objects install applied.",
    )
    add_options(uninstall_cmd, options_of("uninstall"))


@dataclass(frozen=True)
class Result:
    context: str
    ok: bool
    outcome: Outcome


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run `install` or `uninstall` as parsed; the process exit status."""
    try:
        settings = resolve(args, options_of(args.command))
        contexts = select_contexts(settings)
    except ConfigError as error:
        print(f"globaldns {args.command}: {error}", file=err)
        return 2
    results = asyncio.run(_run_all(args.command, settings, contexts, err))
    for result in results:
        if result.outcome.diff:
            out.write(f"# {result.context}\n{result.outcome.diff}")
    out.write(summary(args.command, settings["dry_run"], results))
    return 0 if all(result.ok for result in results) else 1


def select_contexts(settings: dict[str, Any]) -> list[str]:
    """`--contexts all`, the named ones (with any `--context`), or the current context."""
    kubeconfig = settings["kubeconfig"]
    try:
        available, current = kube_config.list_kube_config_contexts(
            str(kubeconfig) if kubeconfig else None
        )
    except (kube_config.ConfigException, OSError) as error:
        where = kubeconfig or "the default kubeconfig"
        raise ConfigError(f"{where}: cannot read its contexts: {error}") from None
    names = [context["name"] for context in available]
    spec = settings["contexts"].strip()
    if spec == ALL_CONTEXTS:
        chosen = names
    else:
        wanted = [*settings["context"], *(n.strip() for n in spec.split(",") if n.strip())]
        chosen = list(dict.fromkeys(wanted)) or ([current["name"]] if current else [])
    missing = [name for name in chosen if name not in names]
    if missing or not chosen:
        raise ConfigError(
            f"no context(s) {missing or ''} in the kubeconfig; it has {names} "
            f"(use --contexts {ALL_CONTEXTS} or --contexts NAME,NAME)"
        )
    if settings["local_cluster"] and len(chosen) > 1:
        raise ConfigError(
            "--local-cluster names one cluster but several contexts are selected; leave it out "
            "and each cluster is named after its context"
        )
    return chosen


async def _run_all(
    command: str, settings: dict[str, Any], contexts: list[str], err: TextIO
) -> list[Result]:
    return list(
        await asyncio.gather(*(_run_one(command, settings, name, err) for name in contexts))
    )


async def _run_one(command: str, settings: dict[str, Any], context: str, err: TextIO) -> Result:
    def say(message: str) -> None:
        print(f"{context}: {message}", file=err, flush=True)

    kubeconfig = settings["kubeconfig"]
    try:
        api = await kube_config.new_client_from_config(
            config_file=str(kubeconfig) if kubeconfig else None,
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
                options = InstallOptions(
                    zone=settings["zone"],
                    ttl=settings["ttl"],
                    image=settings["image"],
                    local_cluster=settings["local_cluster"] or context,
                    keep_wired=settings["keep_wired"],
                    dry_run=settings["dry_run"],
                    timeout=settings["timeout"],
                )
                outcome = await install(kube, options, say)
            else:
                outcome = await uninstall(kube, settings["zone"], settings["dry_run"], say)
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
