"""The image: slim Python base, installed from project metadata, non-root, same entry point."""

from __future__ import annotations

from typing import Any

from .conftest import REPO
from .dockerfile import Instruction, stages

STAGES = stages(REPO / "Dockerfile")
RUNTIME = STAGES[-1]


def _only(stage: list[Instruction], keyword: str) -> Instruction:
    (instruction,) = [i for i in stage if i.keyword == keyword]
    return instruction


def test_the_runtime_stage_starts_from_slim_python_3_11() -> None:
    assert _only(RUNTIME, "FROM").argument == "python:3.11-slim"


def test_the_build_stage_is_the_same_python_with_a_compiler() -> None:
    """The venv is copied across, so both stages must be one Python on one Debian release."""
    assert {_only(stage, "FROM").argument.split()[0] for stage in STAGES[:-1]} == {"python:3.11"}


def test_build_installs_the_project_with_its_fast_extra() -> None:
    runs = " ".join(i.argument for stage in STAGES[:-1] for i in stage if i.keyword == "RUN")
    assert 'install --disable-pip-version-check ".[fast]"' in runs


def test_build_copies_the_project_metadata() -> None:
    copied = {
        source
        for stage in STAGES
        for i in stage
        if i.keyword == "COPY"
        for source in i.argument.split()[:-1]
    }
    assert {"pyproject.toml", "setup.py", "globaldns", "manifests"} <= copied


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
