"""The `globaldns` command: serve, table (and install/uninstall, see globaldns.install)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from globaldns import __version__
from globaldns.app import MeshState, mesh_defaults, serve
from globaldns.config import SERVE_OPTIONS, SOURCE_OPTIONS, ConfigError, add_options, resolve
from globaldns.health import HEALTH_OPTIONS
from globaldns.install import command as install_command
from globaldns.install.watchdog import WATCHDOG_OPTIONS
from globaldns.sources import kubernetes
from globaldns.sources.mesh import Mesh
from globaldns.table.render import as_text, as_zone

log = logging.getLogger("globaldns")
SERVE_COMMAND_OPTIONS = SERVE_OPTIONS + WATCHDOG_OPTIONS + HEALTH_OPTIONS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="globaldns",
        description="Local-first authoritative DNS for the global. zone of multi-cluster meshes.",
    )
    parser.add_argument("--version", action="version", version=f"globaldns {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_cmd = commands.add_parser(
        "serve", help="answer DNS for the zone", description="Answer DNS for the zone."
    )
    add_options(serve_cmd, SOURCE_OPTIONS + kubernetes.KUBERNETES_OPTIONS + SERVE_COMMAND_OPTIONS)

    table_cmd = commands.add_parser(
        "table",
        help="print the resolved table",
        description="Print the resolved table: name, type, tier, clusters, addresses and why.",
    )
    add_options(table_cmd, SOURCE_OPTIONS + kubernetes.KUBERNETES_OPTIONS)
    table_cmd.add_argument(
        "--format",
        choices=("text", "zone", "json"),
        default="text",
        help="text for people, zone for a zone file (NSD, BIND), json as /table serves it",
    )
    install_command.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in install_command.COMMANDS:
        return install_command.run(args)
    options = (
        SOURCE_OPTIONS
        + kubernetes.KUBERNETES_OPTIONS
        + (SERVE_COMMAND_OPTIONS if args.command == "serve" else ())
    )
    try:
        mesh, defaults = mesh_defaults(resolve(args, options)["mesh"])
        settings = resolve(args, options, mesh_defaults=defaults)
    except ConfigError as err:
        print(f"globaldns {args.command}: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings["log_level"].upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings["mesh"] is None and not kubernetes.configured(settings):
        print(
            f"globaldns {args.command}: no source: give --mesh FILE (see examples/mesh.yaml) "
            "or --kubeconfig PATH",
            file=sys.stderr,
        )
        return 2
    if args.command == "serve":
        return serve(settings, mesh)
    return print_table(settings, mesh, args.format)


def print_table(settings: dict[str, Any], mesh: Mesh | None, form: str) -> int:
    state = MeshState(settings, mesh)
    try:
        source = state.kubernetes_source()
    except kubernetes.KubeconfigError as err:
        print(f"globaldns table: {err}", file=sys.stderr)
        return 2
    if source is not None:
        kubernetes.sync_once(source, settings["sync_timeout"] + 1)
    if form == "zone":
        sys.stdout.write(as_zone(state.table))
    elif form == "json":
        sys.stdout.write(json.dumps(state.table_json(), indent=1) + "\n")
    else:
        sys.stdout.write(as_text(state.table.views(), state.table.config.zone))
    return 0
