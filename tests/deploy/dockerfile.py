"""Enough of a Dockerfile reader to check the image and to replay its build stage without Docker.

There is no Docker engine on the build machines, so the image's install steps are replayed in a
scratch directory: WORKDIR maps under a scratch root, COPY copies from the build context minus
`.dockerignore`, RUN runs under `sh` with the stage's ARGs (overridable, as `--build-arg` does).
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str

    def exec_form(self) -> list[str]:
        """The JSON-array argument of ENTRYPOINT/CMD."""
        value = json.loads(self.argument)
        assert isinstance(value, list), f"{self.keyword} is not in exec form"
        return value


def stages(dockerfile: Path) -> list[list[Instruction]]:
    """The instructions of each stage, continuation lines joined and comments dropped."""
    result: list[list[Instruction]] = []
    logical = ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        keyword, _, argument = (logical + stripped).partition(" ")
        logical = ""
        instruction = Instruction(keyword.upper(), argument.strip())
        if instruction.keyword == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def replay_build(
    stage: list[Instruction], context: Path, root: Path, build_args: dict[str, str]
) -> None:
    """Run the stage's WORKDIR/ARG/COPY/RUN steps on this machine, under `root`."""
    ignored = _ignore_patterns(context)
    env = dict(os.environ)
    workdir = root
    for instruction in stage:
        match instruction.keyword:
            case "FROM":
                continue
            case "ARG":
                name, _, default = instruction.argument.partition("=")
                env[name] = build_args.get(name, default)
            case "WORKDIR":
                workdir = root / instruction.argument.lstrip("/")
                workdir.mkdir(parents=True, exist_ok=True)
            case "COPY":
                *sources, destination = instruction.argument.split()
                for source in sources:
                    _copy(context / source, destination, workdir, ignored)
            case "RUN":
                subprocess.run(
                    ["sh", "-c", instruction.argument],
                    cwd=workdir,
                    env=env,
                    check=True,
                    timeout=240,
                )
            case other:
                raise AssertionError(f"the build stage uses {other}, which replay_build ignores")


def _ignore_patterns(context: Path) -> list[str]:
    lines = (context / ".dockerignore").read_text().splitlines()
    return [line.strip().removeprefix("**/") for line in lines if line.strip() and line[0] != "#"]


def _copy(source: Path, destination: str, workdir: Path, ignored: list[str]) -> None:
    """Docker's COPY: a directory's contents into the destination; a file into a `dir/`."""
    if source.is_dir():
        shutil.copytree(
            source,
            workdir / destination,
            symlinks=True,
            dirs_exist_ok=True,
            ignore=lambda _dir, names: [n for n in names if _matches(n, ignored)],
        )
    elif destination.endswith("/"):
        (workdir / destination).mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, workdir / destination / source.name)
    else:
        shutil.copy2(source, workdir / destination)


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
