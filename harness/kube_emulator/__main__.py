"""`python -m harness.kube_emulator`: serve emulated clusters until SIGTERM, for processes that
cannot share a loop with the emulator (benchmarks, manual runs)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import time
from pathlib import Path

from .emulator import Emulator
from .seed import seed_cluster, seed_file_objects, seed_imports


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.kube_emulator", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="where to write kubeconfig etc.")
    parser.add_argument("--clusters", default="", help="comma-separated cluster names")
    parser.add_argument(
        "--clusters-count", type=int, default=0, help="add N clusters named cluster-000..."
    )
    parser.add_argument(
        "--services-per-cluster", type=int, default=0, help="seed M Services+EndpointSlices each"
    )
    parser.add_argument(
        "--imports-from",
        type=int,
        default=0,
        help="seed the first cluster with --imports ServiceImports, each with a labelled "
        "EndpointSlice from N source clusters (an MCS implementation's view)",
    )
    parser.add_argument("--imports", type=int, default=0, help="ServiceImports to seed")
    parser.add_argument("--seed-file", type=Path, help="YAML: cluster name -> list of objects")
    parser.add_argument("--bookmark-interval", type=float, default=1.0)
    parser.add_argument("--no-service-entries", action="store_true", help="omit the CRD")
    args = parser.parse_args(argv)
    names = [n for n in args.clusters.split(",") if n]
    names += [f"cluster-{i:03d}" for i in range(args.clusters_count)]
    if not names:
        parser.error("give --clusters NAMES and/or --clusters-count N")
    args.names = names
    return args


async def serve(args: argparse.Namespace) -> None:
    started = time.monotonic()
    emulator = Emulator(
        bookmark_interval=args.bookmark_interval, service_entries=not args.no_service_entries
    )
    await emulator.start()
    seeds = seed_file_objects(args.seed_file) if args.seed_file else {}
    # Seeded objects live until exit: skip collecting them (full collections over millions of
    # young dicts made seeding quadratic) and move them out of the collector's view afterwards.
    gc.disable()
    for index, name in enumerate(args.names):
        cluster = await emulator.add_cluster(name)
        if args.services_per_cluster:
            seed_cluster(cluster, index, args.services_per_cluster)
        if index == 0 and args.imports:
            seed_imports(cluster, args.imports, args.imports_from)
        for obj in seeds.get(name, []):
            cluster.put(obj)
    gc.freeze()
    gc.enable()
    args.dir.mkdir(parents=True, exist_ok=True)
    emulator.write_kubeconfig(args.dir / "kubeconfig")
    (args.dir / "ca.pem").write_bytes(emulator.ca_pem)
    control = {"url": emulator.control_url, "clusters": args.names}
    partial = args.dir / "control.json.tmp"
    partial.write_text(json.dumps(control))
    partial.rename(args.dir / "control.json")
    print(
        f"kube emulator: {len(args.names)} clusters ready in {time.monotonic() - started:.1f}s, "
        f"control {emulator.control_url}",
        flush=True,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
