"""DNS serving benchmark by answer kind: globaldns against NSD serving the same names.

Each server serves the same realistic mesh (bench/dns_workloads.py) pinned to one core while
dnsperf drives it from the other. Each answer kind is measured alone (NXDOMAIN, AAAA NODATA,
one address, two to five rotated addresses, forty addresses, SRV), then the two mixes
(questions as sent and in random case, DNS 0x20). Servers alternate within each workload,
because other work on the machine moves absolute figures by 10-20% between runs: only same-run
ratios compare. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dns_measure import FloodRun, Run, Setup, measure, measure_flood  # noqa: E402
from dns_report import (  # noqa: E402
    SERVERS,
    environment,
    flood_text,
    markdown_table,
    medians,
    ratio_line,
    ratios,
    table_text,
    write_chart,
)
from dns_servers import BenchError, Server, check_answers, make_servers, running  # noqa: E402
from dns_workloads import Mesh, Workload, query_lines, realistic_mesh  # noqa: E402


def _names(allowed: tuple[str, ...]) -> Any:
    def parse(value: str) -> tuple[str, ...]:
        names = tuple(name for name in value.split(",") if name)
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"{', '.join(unknown)}: choose from {allowed}")
        return names

    return parse


def _rates(value: str) -> tuple[int, ...]:
    return tuple(int(rate) for rate in value.split(",") if rate)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each dnsperf run")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds over all workloads (0: flood runs only)"
    )
    parser.add_argument("--rate", type=int, default=20000, help="fixed rate for CPU per query")
    parser.add_argument("--server-core", type=int, default=1, help="core the servers run on")
    parser.add_argument("--client-core", type=int, default=0, help="core dnsperf runs on")
    parser.add_argument(
        "--servers",
        type=_names(("globaldns", "pure", "nsd", "nsd-fixed", "dnslib")),
        default=("globaldns", "nsd"),
        help="comma-separated servers from globaldns,pure,nsd,nsd-fixed,dnslib (default: "
        "globaldns,nsd; pure is globaldns forced onto the pure-Python UDP loop; NSD rotates "
        "records, nsd-fixed does not; dnslib runs the mix only)",
    )
    workloads = tuple(workload.value for workload in Workload)
    parser.add_argument(
        "--workloads",
        type=_names(workloads),
        default=workloads,
        help=f"comma-separated workloads (default: all of {','.join(workloads)})",
    )
    parser.add_argument(
        "--no-max-qps",
        dest="max_qps",
        action="store_false",
        help="skip the max qps runs (the mixes have one each before the fixed-rate run)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="another globaldns source tree (e.g. `git worktree add`) run as server `before`",
    )
    parser.add_argument(
        "--flood",
        type=_rates,
        default=(),
        metavar="RATES",
        help="garbage packets/s of flood runs, comma-separated (default none; the README's "
        "figures: 40000,80000,120000)",
    )
    parser.add_argument(
        "--flood-valid-rate", type=int, default=10000, help="valid queries/s during a flood"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results",
        help="directory for dns_bench.json and dns_bench.png",
    )
    args = parser.parse_args(argv)
    if args.before is not None and not (args.before / "globaldns" / "__main__.py").is_file():
        parser.error(f"--before {args.before} is not a globaldns source tree")
    if args.flood and Workload.MIX.value not in args.workloads:
        parser.error("--flood sends the mix beside the garbage: keep mix in --workloads")
    return args


@dataclass
class Results:
    runs: list[Run]
    floods: list[FloodRun]


def _prepare(workdir: Path, mesh: Mesh, workloads: list[Workload]) -> tuple[Path, Path]:
    """The mesh file, NSD's zone file made from it by `globaldns table`, the question files."""
    mesh_path = workdir / "mesh.yaml"
    mesh_path.write_text(yaml.safe_dump(mesh.document, sort_keys=False))
    table = [sys.executable, "-m", "globaldns", "table", "--mesh", str(mesh_path)]
    zone = workdir / "global.zone"
    zone.write_text(
        subprocess.run(
            [*table, "--format", "zone"], capture_output=True, text=True, check=True, cwd=REPO
        ).stdout
    )
    for workload in workloads:
        lines = query_lines(mesh, workload)
        (workdir / f"queries-{workload}.txt").write_text("\n".join(lines) + "\n")
    return mesh_path, zone


def _runs(
    started: list[Server], workloads: list[Workload], setup: Setup, rounds: int, workdir: Path
) -> list[Run]:
    """Every workload on every server, round by round; the server order turns per workload."""
    runs: list[Run] = []
    turn = 0
    for round_ in range(rounds):
        for workload in workloads:
            queries = workdir / f"queries-{workload}.txt"
            shift, turn = turn % len(started), turn + 1
            for server in started[shift:] + started[:shift]:
                if server.name == "dnslib" and workload is not Workload.MIX:
                    continue
                run = measure(server, queries, workload, setup, round_)
                peak = (
                    ""
                    if run.max_qps is None
                    else (
                        f"  max {run.max_qps:>9,.0f} qps (server CPU "
                        f"{run.max_server_cpu_percent:.0f}%)"
                    )
                )
                print(
                    f"round {round_ + 1}/{rounds} {workload:8} {server.name:9} "
                    f"CPU {run.cpu_us_per_query:6.2f} us/query at {run.rate:,} qps  "
                    f"p99 {run.p99_ms:.3f} ms  {run.response_bytes} B{peak}",
                    flush=True,
                )
                runs.append(run)
    return runs


def bench(args: argparse.Namespace, workdir: Path) -> Results:
    """Make the mesh, start and check the servers, run each workload, then flood each."""
    mesh = realistic_mesh()
    workloads = [Workload(name) for name in args.workloads]
    mesh_path, zone = _prepare(workdir, mesh, workloads)
    setup = Setup(args.seconds, args.rate, args.server_core, args.client_core, args.max_qps)
    results = Results([], [])
    with ExitStack() as stack:
        started = [
            stack.enter_context(running(server, args.server_core))
            for server in make_servers(workdir, mesh_path, zone, args.servers, args.before)
        ]
        for server in started:
            check_answers(server, mesh.samples)
        results.runs = _runs(started, workloads, setup, args.rounds, workdir)
        for garbage_rate in args.flood:
            for server in started:
                if server.name == "dnslib":  # it cannot answer the valid queries alone
                    continue
                queries = workdir / f"queries-{Workload.MIX}.txt"
                flood = measure_flood(server, queries, setup, garbage_rate, args.flood_valid_rate)
                print(
                    f"flood {garbage_rate:,}/s garbage {server.name:9} lost "
                    f"{flood.valid_lost}/{flood.valid_sent} valid ({flood.lost_percent:.2f}%), "
                    f"CPU {flood.cpu_percent:.0f}%",
                    flush=True,
                )
                results.floods.append(flood)
    return results


def report(args: argparse.Namespace, results: Results) -> None:
    runs = results.runs
    med = medians(runs)
    found = ratios(runs)
    print(f"\nmedians of {args.rounds} round(s), {args.seconds:g} s runs")
    print(table_text(med))
    for ratio in found:
        print(ratio_line(ratio))
    if any(ratio.label.startswith("globaldns/nsd") for ratio in found):
        print(f"\n{markdown_table(med, found)}")
    if results.floods:
        print(f"\nflood runs: garbage beside {args.flood_valid_rate:,} valid queries/s")
        print(flood_text(results.floods))
    args.out.mkdir(parents=True, exist_ok=True)
    chart = args.out / "dns_bench.png"
    title = (
        f"{', '.join(sorted({r.server for r in runs}, key=SERVERS.index))}: "
        f"{args.rounds} round(s) of {args.seconds:g} s, server on core "
        f"{args.server_core}, dnsperf on core {args.client_core}"
    )
    if runs:
        write_chart(med, chart, title)
    output = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": environment(),
        "runs": [asdict(run) for run in runs],
        "medians": [{"workload": w, "server": s, **m} for (w, s), m in med.items()],
        "ratios": [asdict(ratio) for ratio in found],
        "floods": [{**asdict(f), "lost_percent": f.lost_percent} for f in results.floods],
    }
    (args.out / "dns_bench.json").write_text(json.dumps(output, indent=1) + "\n")
    print(f"wrote {chart} and {args.out / 'dns_bench.json'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C so that every started server is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f} before start; figures will be noisy", flush=True)
    with tempfile.TemporaryDirectory(prefix="dns-bench-") as workdir:
        try:
            results = bench(args, Path(workdir))
        except BenchError as err:
            print(f"dns_bench: {err}", file=sys.stderr)
            return 1
    report(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
