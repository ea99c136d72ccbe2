"""The `globaldns` command: serve, table (and install/uninstall, see globaldns.install)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from globaldns import __version__, logs, runtime
from globaldns.app import MeshState, serve
from globaldns.compare import command as compare_command
from globaldns.config import ConfigError, add_options
from globaldns.install import command as install_command
from globaldns.settings import SERVE_GROUPS, TABLE_GROUPS, Settings, layers, with_mesh
from globaldns.sources import kubernetes
from globaldns.sources.mesh import Mesh
from globaldns.table.pages import UnknownNames
from globaldns.table.render import (
    as_clusterset_zone,
    as_text,
    as_zone,
    clusters_text,
    gateways_text,
)
from globaldns.table.serviceentry import NotRenderable, render
from globaldns.table.table import NameView

log = logging.getLogger("globaldns")

SERVE_EXAMPLES = """examples:
  globaldns serve --mesh examples/mesh.yaml --listen 127.0.0.1:5353 --admin 127.0.0.1:9153
  globaldns serve --kubeconfig ~/.kube/config --context west --context east \\
      --local-cluster west --listen [::]:53 --lameduck 5
  globaldns serve --config /etc/globaldns/config.yaml --log-format json
  dig @127.0.0.1 -p 5353 foo.global; curl 127.0.0.1:9153/table?name=foo.global
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="globaldns",
        description="Local-first authoritative DNS for the global. zone of multi-cluster meshes.",
    )
    parser.add_argument("--version", action="version", version=f"globaldns {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_cmd = commands.add_parser(
        "serve",
        help="answer DNS for the zone",
        description="Answer DNS for the zone.",
        epilog=SERVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for title, options in SERVE_GROUPS:
        add_options(serve_cmd, options, title)

    table_cmd = commands.add_parser(
        "table",
        help="print the resolved table",
        description="Print the resolved table: name, type, tier, clusters, addresses and why.",
    )
    table_cmd.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="only these names, e.g. foo.global (text and json; a zone file is always whole); "
        "default: every name",
    )
    table_cmd.add_argument(
        "--format",
        choices=("text", "zone", "clusterset-zone", "json", "serviceentry"),
        default="text",
        help="text for people, zone for a zone file (NSD, BIND), clusterset-zone the same of "
        "the clusterset zone, json as /table serves it, "
        "serviceentry the Istio ServiceEntry routing each NAME through the gateways "
        "(default: text)",
    )
    for title, options in TABLE_GROUPS:
        add_options(table_cmd, options, title)
    install_command.add_parsers(commands)
    compare_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == compare_command.COMMAND:
        return compare_command.run_command(args)
    try:
        given = layers(args)
        given.check()
        if args.command in install_command.COMMANDS:
            return install_command.run(args, given)
        logging_to = given.build(Settings).logs  # every value is checked before any is used
        logs.configure(logging_to.level, logging_to.format)
    except ConfigError as err:
        print(f"globaldns {args.command}: {err}", file=sys.stderr)
        return 2
    try:
        settings, mesh = with_mesh(given)
        if args.command == "serve":
            return serve(settings, mesh)
        return print_table(settings, mesh, args.format, args.names)
    except (ConfigError, kubernetes.KubeconfigError) as err:
        log.error("%s", err)
        return 2


def print_table(settings: Settings, mesh: Mesh | None, form: str, names: Sequence[str]) -> int:
    state = MeshState(settings, mesh)
    source = state.kubernetes_source()
    if source is not None:
        runtime.configure()  # the watch thread's loop and switch interval, as in `serve`
        kubernetes.sync_once(source, settings.kube.sync_timeout + 1)
    try:
        views = state.views(names)
        entries = render(state.table, views, names) if form == "serviceentry" else ""
    except UnknownNames as err:
        print(f"globaldns table: {err} (`globaldns table` lists every name)", file=sys.stderr)
        return 1
    except NotRenderable as err:
        print(f"globaldns table: {err}", file=sys.stderr)
        return 1
    try:
        if entries:
            sys.stdout.write(entries)
        else:
            _write_table(state, views, form)
    except BrokenPipeError:  # `globaldns table | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _write_table(state: MeshState, views: list[NameView], form: str) -> None:
    if form == "json":
        sys.stdout.write(json.dumps(state.document(views), indent=1) + "\n")
    elif form == "zone":
        sys.stdout.write(as_zone(state.table))
    elif form == "clusterset-zone" and state.table.clusterset is not None:
        sys.stdout.write(as_clusterset_zone(state.table.clusterset))
    else:
        sys.stdout.write(as_text(views, state.table.config.zone))
        if any(cluster.gateways for cluster in state.table.clusters.values()):
            sys.stdout.write("\n" + gateways_text(state.table))
        clusters = state.clusters.as_json()
        if any(row["source"] == kubernetes.SOURCE for row in clusters):
            sys.stdout.write("\n" + clusters_text(clusters))
