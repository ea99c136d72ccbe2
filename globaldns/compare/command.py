"""`globaldns compare --against HOST[:PORT]`: the cut-over check against the resolver that
answers the zone today (istiocoredns through CoreDNS, or another globaldns).

Exit status: 0 when every difference is explained by a rule of globaldns, 1 when one is not,
2 when the comparison could not be made (a flag, or our admin port unreadable).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from typing import Any, TextIO

from globaldns.compare import report
from globaldns.compare.asking import Server
from globaldns.compare.ours import CompareError
from globaldns.compare.run import Options, run
from globaldns.config import host_port
from globaldns.dns.wire import fits

COMMAND = "compare"
DNS_PORT = 53


def server_address(value: str) -> tuple[str, int]:
    """`HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address; port 53 unless given."""
    try:
        return str(ipaddress.ip_address(value.strip("[]"))), DNS_PORT
    except ValueError:
        host, port = host_port(value)
        return host, port


def zone(value: str) -> str:
    name = value.strip(".")
    if not name or not fits(name):
        raise argparse.ArgumentTypeError(f"{value!r} is not a DNS name")
    return name


def positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return int(value)


def timeout(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number <= 60:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds in (0, 60]")
    return number


def add_parser(commands: Any) -> None:
    """Add `compare` to the `globaldns` subcommands."""
    parser = commands.add_parser(
        COMMAND,
        help="compare a running resolver's answers with ours (the cut-over check)",
        description="Ask the resolver at --against and our running globaldns every name our "
        "table holds and every ServiceEntry host it skips, in A and AAAA, and print the "
        "differences: exit 1 when one is not explained by a rule of globaldns.",
    )
    _where_flags(parser)
    _how_flags(parser)


def _where_flags(parser: argparse.ArgumentParser) -> None:
    """The addresses asked: theirs, ours and our admin port (nothing else is contacted)."""
    add = parser.add_argument
    add(
        "--against",
        required=True,
        type=server_address,
        metavar="HOST[:PORT]",
        help="the resolver answering the zone today (CoreDNS forwarding to istiocoredns, or "
        "another globaldns); port 53 unless given",
    )
    add(
        "--ours",
        type=host_port,
        default=("127.0.0.1", 5353),
        metavar="HOST:PORT",
        help="our globaldns's DNS address (default: 127.0.0.1:5353, inside its pod)",
    )
    add(
        "--admin",
        type=host_port,
        default=("127.0.0.1", 9153),
        metavar="HOST:PORT",
        help="our globaldns's admin port, whose /table lists the names (default: 127.0.0.1:9153)",
    )
    add("--zone", type=zone, default="global", metavar="NAME", help="the zone (default: global)")
    add(
        "--tcp",
        action="store_true",
        help="ask both servers over TCP, for `kubectl port-forward`, which carries no UDP "
        "(default: UDP, and TCP when a reply is truncated or none came)",
    )


def _how_flags(parser: argparse.ArgumentParser) -> None:
    """What is printed, and the bounds of the run."""
    add = parser.add_argument
    add(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people, json for CI (default: text)",
    )
    add(
        "--timeout",
        type=timeout,
        default=2.0,
        metavar="SECONDS",
        help="per question and per admin request (default: 2)",
    )
    add(
        "--concurrency",
        type=positive,
        default=16,
        metavar="N",
        help="names asked at once (default: 16)",
    )
    add(
        "--max-names",
        type=positive,
        default=10_000,
        metavar="N",
        help="compare at most this many names of the table (default: 10000)",
    )
    add(
        "--pinned",
        action="store_true",
        help="also ask the cluster- and region-pinned names, which istiocoredns never had "
        "(default: off)",
    )


def run_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    options = Options(
        theirs=Server(args.against[0], args.against[1], args.tcp),
        ours=Server(args.ours[0], args.ours[1], args.tcp),
        admin=args.admin,
        zone=args.zone,
        timeout=args.timeout,
        concurrency=args.concurrency,
        max_names=args.max_names,
        pinned=args.pinned,
    )
    try:
        result = asyncio.run(run(options))
    except CompareError as err:
        print(f"globaldns compare: {err}", file=sys.stderr)
        return 2
    out.write(report.as_json(result) if args.format == "json" else report.as_text(result))
    return 1 if result.unexplained else 0
