"""The image's build steps, replayed in a fresh venv, give a working `globaldns` entry point.

There is no Docker engine here, so the Dockerfile's build stage is replayed on this machine (pip
reaches PyPI and reuses its cache) with `VENV` pointed at a scratch directory, as
`docker build --build-arg VENV=...` would. Needs the project's README.md and `globaldns.cli`;
the serve test also needs `examples/mesh.yaml`.
"""

from __future__ import annotations

import json
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from packaging.utils import canonicalize_name

from globaldns.manifests import load
from harness import free_port

from .conftest import REPO
from .dockerfile import replay_build, stages
from .lockfile import pins

MESH = REPO / "examples" / "mesh.yaml"
pytestmark = [
    pytest.mark.skipif(
        not (REPO / "README.md").exists() or not (REPO / "globaldns" / "cli.py").exists(),
        reason="the image build needs README.md and globaldns/cli.py",
    ),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("image")
    target = root / "opt" / "globaldns"
    replay_build(stages(REPO / "Dockerfile")[0], REPO, root, {"VENV": str(target)})
    return target


def _run(venv: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run from the venv, outside the repo, so nothing is imported from the source tree."""
    return subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]],
        cwd=venv,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_entry_point_answers_help(venv: Path) -> None:
    assert "serve" in _run(venv, "globaldns", "--help").stdout


def test_image_installs_the_fast_extra(venv: Path) -> None:
    _run(venv, "python", "-c", "import uvloop")


def test_the_venv_has_no_pip_nor_the_build_backend(venv: Path) -> None:
    for module in ("pip", "setuptools"):
        missing = subprocess.run(
            [str(venv / "bin" / "python"), "-c", f"import {module}"],
            cwd=venv,
            capture_output=True,
            timeout=60,
        )
        assert missing.returncode != 0, f"{module} is importable in the image's venv"
    assert not list((venv / "bin").glob("pip*"))


def test_the_venv_holds_exactly_the_locked_versions_and_globaldns(venv: Path) -> None:
    script = (
        "import json, importlib.metadata as m;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    installed = json.loads(_run(venv, "python", "-c", script).stdout)
    locked = {name: pin.version for name, pin in pins(REPO / "requirements.lock").items()}
    del locked["setuptools"]  # the build backend, removed once globaldns is built
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert {canonicalize_name(n): v for n, v in installed.items()} == {
        **locked,
        "globaldns": version,
    }


def test_image_builds_the_compiled_udp_loop(venv: Path) -> None:
    _run(venv, "python", "-c", "import globaldns.server._fastudp")


def test_installed_package_ships_the_manifests(venv: Path) -> None:
    script = (
        "import json, globaldns.manifests as m;"
        "print(json.dumps([m.__file__, m.load(['keep-wired'])]))"
    )
    location, objects = json.loads(_run(venv, "python", "-c", script).stdout)
    assert Path(location).is_relative_to(venv)
    assert objects == load(["keep-wired"])


@pytest.fixture
def server(venv: Path) -> Iterator[tuple[int, int]]:
    dns_port, admin_port = free_port(), free_port()
    command = [
        str(venv / "bin" / "globaldns"),
        "serve",
        "--mesh",
        str(MESH),
        "--listen",
        f"127.0.0.1:{dns_port}",
        "--admin",
        f"127.0.0.1:{admin_port}",
    ]
    process = subprocess.Popen(command, cwd=venv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(admin_port, process, deadline=time.monotonic() + 20)
        yield dns_port, admin_port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_healthy(admin_port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        assert process.poll() is None, f"globaldns serve exited {process.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/health", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError("globaldns serve did not answer /health within 20 s")


@pytest.mark.skipif(not MESH.exists(), reason="needs examples/mesh.yaml")
def test_entry_point_serves_the_zone_from_the_mesh_file(server: tuple[int, int]) -> None:
    dns_port, _ = server
    query = dns.message.make_query("global.", dns.rdatatype.SOA)
    reply = dns.query.udp(query, "127.0.0.1", port=dns_port, timeout=2)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.SOA]
