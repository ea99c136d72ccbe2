"""Every fuzz harness in fuzz/ runs clean on its seed corpus, found by name, so a new one is
run too: once briefly under libFuzzer (mutating from its seeds), once replaying each seed
through `TestOneInput` without libFuzzer (a failure names the seed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "fuzz"
HARNESSES = sorted(path.stem.removeprefix("fuzz_") for path in FUZZ.glob("fuzz_*.py"))
SECONDS = 3  # of mutation per harness: enough to start, cross the seeds and mutate a while


def corpus(name: str) -> Path:
    return FUZZ / "corpus" / name


def test_there_are_harnesses() -> None:
    assert {"responder", "mesh", "corefile", "slim"} <= set(HARNESSES)


@pytest.mark.parametrize("name", HARNESSES)
def test_every_harness_has_a_seed_corpus(name: str) -> None:
    assert any(corpus(name).iterdir()), f"fuzz/corpus/{name}/ holds no seeds"


@pytest.mark.parametrize("name", HARNESSES)
def test_a_short_fuzzing_run_finds_no_crash(name: str, tmp_path: Path) -> None:
    scratch = tmp_path / "corpus"  # libFuzzer adds what it finds to the first directory
    scratch.mkdir()
    run = subprocess.run(
        [
            sys.executable,
            str(FUZZ / f"fuzz_{name}.py"),
            str(scratch),
            str(corpus(name)),
            f"-max_total_time={SECONDS}",
            f"-artifact_prefix={tmp_path}/",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    crashes = [path.name for path in tmp_path.iterdir() if path.name.startswith("crash-")]
    assert run.returncode == 0 and not crashes, run.stderr[-4000:]


# In a process of its own: a harness instruments and patches what it imports (the Corefile
# harness memoizes `parse`), which must not leak into the rest of the suite.
REPLAY = """
import pathlib, sys
from fuzz_{name} import TestOneInput
for seed in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    print(seed.name, flush=True)
    TestOneInput(seed.read_bytes())
"""


@pytest.mark.parametrize("name", HARNESSES)
def test_every_seed_passes_its_harness(name: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", REPLAY.format(name=name), str(corpus(name))],
        env={**os.environ, "PYTHONPATH": f"{FUZZ}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"last seed: {run.stdout.splitlines()[-1:]}\n{run.stderr[-4000:]}"
