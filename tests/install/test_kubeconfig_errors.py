"""SPEC §5 / issue 7.5: a kubeconfig install cannot use is one line naming the file and the fix,
exit 2, never a traceback, and nothing is contacted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from globaldns.cli import main
from harness import REPO

FIX = "--kubeconfig PATH"
BROKEN = {
    "not YAML": (b"clusters: [unclosed\n", "not valid YAML"),
    "not UTF-8": (b"\xff\xfeclusters: []\n", "not UTF-8"),
    "not a mapping": (b"- a\n- list\n", "not a mapping"),
    "without contexts": (b"apiVersion: v1\nkind: Config\nclusters: []\n", "no contexts"),
    "contexts not a list": (b"contexts: 5\n", "`contexts` is not a list"),
    "contexts of strings": (b"contexts: [a, b]\n", "no contexts"),
}


def one_line(status: int, out: str, err: str) -> str:
    """The single stderr line of a start-up error (exit 2, nothing on stdout)."""
    assert status == 2, err
    assert out == ""
    (line,) = err.splitlines()
    return line


@pytest.mark.parametrize("command", ["install", "uninstall"])
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_unusable_kubeconfig_is_one_line_naming_the_file_and_the_fix(
    command: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contents, problem = BROKEN[case]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(contents)
    status = main([command, "--kubeconfig", str(kubeconfig)])
    line = one_line(status, *capsys.readouterr())
    assert line.startswith(f"globaldns {command}: {kubeconfig}: ")
    assert problem in line and FIX in line


def test_default_kubeconfig_is_the_first_file_of_the_kubeconfig_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first"
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'second'}")
    line = one_line(main(["install", "--dry-run"]), *capsys.readouterr())
    assert f"{first}: cannot read the kubeconfig" in line and FIX in line


@pytest.mark.parametrize("command", ["install", "uninstall"])
def test_missing_kubeconfig_exits_2_with_one_line_and_no_traceback(
    command: str, tmp_path: Path
) -> None:
    """As a user runs it: the process itself, its exit status and its whole stderr."""
    missing = tmp_path / "no-such-kubeconfig"
    run = subprocess.run(
        [sys.executable, "-m", "globaldns", command, "--kubeconfig", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    line = one_line(run.returncode, run.stdout, run.stderr)
    assert f"{missing}: cannot read the kubeconfig: No such file" in line and FIX in line
