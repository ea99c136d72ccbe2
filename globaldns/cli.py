"""The `globaldns` command: serve, table (and install/uninstall, see globaldns.install)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from globaldns import __version__
from globaldns.app import Mesh, mesh_defaults, serve
from globaldns.config import SERVE_OPTIONS, SOURCE_OPTIONS, ConfigError, add_options, resolve
from globaldns.table.render import as_text, as_zone

log = logging.getLogger("globaldns")


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
    add_options(serve_cmd, SOURCE_OPTIONS + SERVE_OPTIONS)

    table_cmd = commands.add_parser(
        "table",
        help="print the resolved table",
        description="Print the resolved table: name, type, tier, clusters, addresses and why.",
    )
    add_options(table_cmd, SOURCE_OPTIONS)
    table_cmd.add_argument(
        "--format",
        choices=("text", "zone", "json"),
        default="text",
        help="text for people, zone for a zone file (NSD, BIND), json as /table serves it",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = SOURCE_OPTIONS + (SERVE_OPTIONS if args.command == "serve" else ())
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
    if settings["mesh"] is None and settings["kubeconfig"] is None:
        print(
            f"globaldns {args.command}: no source: give --mesh FILE (see examples/mesh.yaml) "
            "or --kubeconfig PATH",
            file=sys.stderr,
        )
        return 2
    if args.command == "serve":
        return serve(settings, mesh)
    state = Mesh(settings, mesh)
    # Hook: the Kubernetes source syncs once into state.table here when configured.
    if args.format == "zone":
        sys.stdout.write(as_zone(state.table))
    elif args.format == "json":
        import json

        sys.stdout.write(json.dumps(state.table_json(), indent=1) + "\n")
    else:
        sys.stdout.write(as_text(state.table.views(), state.table.config.zone))
    return 0
