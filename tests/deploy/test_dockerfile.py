"""The image: slim Python on the build stage's Debian, dependencies from a hashed lock, no pip,
non-root, same entry point."""

from __future__ import annotations

import tomllib
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import REPO
from .dockerfile import Instruction, stages
from .lockfile import pins

STAGES = stages(REPO / "Dockerfile")
RUNTIME = STAGES[-1]


def _only(stage: list[Instruction], keyword: str) -> Instruction:
    (instruction,) = [i for i in stage if i.keyword == keyword]
    return instruction


def _image(stage: list[Instruction]) -> tuple[str, str, str]:
    """(python version, variant, Debian release) of `python:3.11-slim-bookworm AS x`."""
    reference = _only(stage, "FROM").argument.split()[0]
    name, _, tag = reference.partition(":")
    assert name == "python", reference
    version, *variant, release = tag.split("-")
    return version, "-".join(variant), release


def test_the_runtime_stage_starts_from_slim_python_3_11() -> None:
    version, variant, _ = _image(RUNTIME)
    assert (version, variant) == ("3.11", "slim")


def test_both_stages_are_one_python_on_one_named_debian_release() -> None:
    """The venv is copied across, so both stages must be one Python on one Debian release,
    named in the tag (a bare `python:3.11` moves to the next Debian when it is released)."""
    images = [_image(stage) for stage in STAGES]
    assert {(version, release) for version, _, release in images} == {("3.11", "bookworm")}
    assert [variant for _, variant, _ in images] == ["", "slim"]


def _build_pip_installs() -> list[str]:
    runs = [i.argument for stage in STAGES[:-1] for i in stage if i.keyword == "RUN"]
    return [step for run in runs for step in run.split("&&") if " install " in step]


def test_dependencies_install_only_from_the_lock_with_hashes_as_wheels() -> None:
    (from_lock,) = [step for step in _build_pip_installs() if "-r requirements.lock" in step]
    assert "--require-hashes" in from_lock.split()
    assert "--only-binary :all:" in from_lock


def test_no_build_step_resolves_a_dependency_outside_the_lock() -> None:
    installs = _build_pip_installs()
    assert len(installs) == 2
    assert all("--no-deps" in step.split() for step in installs)
    assert any("--no-build-isolation" in step.split() for step in installs)


def test_the_lock_pins_every_dependency_of_pyproject_with_hashes() -> None:
    """Runtime dependencies, the `fast` extra the image runs, and the build backend."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["fast"],
        *project["build-system"]["requires"],
    ]
    locked = pins(REPO / "requirements.lock")
    for requirement in map(Requirement, wanted):
        pin = locked.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(pin.version), f"{requirement} vs {pin.version}"
    assert all(pin.hashes for pin in locked.values())


def test_the_runtime_stage_removes_pip_and_installs_nothing() -> None:
    runs = " ".join(i.argument for i in RUNTIME if i.keyword == "RUN")
    removed = runs.split()
    assert removed[:2] == ["rm", "-rf"]
    for path in (
        "/usr/local/bin/pip",
        "/usr/local/bin/pip3",
        "/usr/local/lib/python3.11/site-packages/pip",
        "/usr/local/lib/python3.11/ensurepip",
    ):
        assert path in removed
    assert "install" not in runs


def test_build_copies_the_project_metadata() -> None:
    copied = {
        source
        for stage in STAGES
        for i in stage
        if i.keyword == "COPY"
        for source in i.argument.split()[:-1]
    }
    assert {"requirements.lock", "pyproject.toml", "setup.py", "globaldns", "manifests"} <= copied


def test_image_runs_as_a_fixed_non_root_user(deployment: dict[str, Any]) -> None:
    user, _, group = _only(RUNTIME, "USER").argument.partition(":")
    assert int(user) > 0
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (int(user), int(group)) == (pod["runAsUser"], pod["runAsGroup"])


def test_entry_point_is_the_globaldns_command() -> None:
    assert _only(RUNTIME, "ENTRYPOINT").exec_form() == ["globaldns"]


def test_image_exposes_the_container_ports(container: dict[str, Any]) -> None:
    exposed = set(_only(RUNTIME, "EXPOSE").argument.split())
    declared = {f"{p['containerPort']}/{p['protocol'].lower()}" for p in container["ports"]}
    assert exposed == declared


def test_python_writes_no_bytecode_on_the_read_only_root() -> None:
    assert "PYTHONDONTWRITEBYTECODE=1" in _only(RUNTIME, "ENV").argument
