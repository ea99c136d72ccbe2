"""`globaldns install --render`: what install would apply, with no cluster to contact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from globaldns.cli import main
from globaldns.install.objects import manifest_objects
from globaldns.install.settings import InstallSettings
from globaldns.install.targets import PROBE_ADDRESS
from globaldns.install.wiring import wire

from .conftest import KUBEADM_COREFILE, REFUSED

# Nothing listens here: a render that tried to reach the cluster would fail.
UNREACHABLE_KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": n, "cluster": {"server": "https://127.0.0.1:1"}} for n in ("a", "b")],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in ("a", "b")],
    "current-context": "a",
}


def rendered(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[list[Any], str]:
    assert main(["install", "--render", *args]) == 0
    out = capsys.readouterr().out
    return [doc for doc in yaml.safe_load_all(out) if doc is not None], out


def expected(context: str, **settings: Any) -> list[dict[str, Any]]:
    return manifest_objects(InstallSettings(timeout=60.0, **settings).for_context(context))


def test_render_prints_what_install_applies_in_each_named_context(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Named contexts need no kubeconfig at all: the one given does not even exist."""
    missing = tmp_path / "no-kubeconfig"
    objects, _ = rendered(capsys, "--contexts", "west,east", "--kubeconfig", str(missing))
    assert objects == expected("west") + expected("east")


def test_render_lists_the_kubeconfig_contexts_without_contacting_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(UNREACHABLE_KUBECONFIG))
    objects, _ = rendered(capsys, "--contexts", "all", "--kubeconfig", str(kubeconfig))
    assert objects == expected("a") + expected("b")


def test_render_carries_the_image_and_keep_wired(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--context", "a", "--image", "registry.example/globaldns:dev", "--keep-wired")
    objects, _ = rendered(capsys, *args)
    assert objects == expected("a", image="registry.example/globaldns:dev", keep_wired=True)
    assert any(o["metadata"]["name"] == "globaldns-coredns-writer" for o in objects)


def test_render_adds_the_components_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--context", "a", "--component", "networkpolicy", "--component", "monitoring")
    objects, _ = rendered(capsys, *args)
    assert objects == expected("a", component=("networkpolicy", "monitoring"))
    assert {"NetworkPolicy", "ServiceMonitor", "PrometheusRule"} <= {o["kind"] for o in objects}


def test_an_unknown_component_is_one_line_listing_the_components(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["install", "--render", "--context", "a", "--component", "nope"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--component: no component 'nope'" in line and "networkpolicy" in line


def _commented_diff(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("# ") and line[2:3] in "+-@ "]


def test_render_shows_the_corefile_edit_install_makes_as_comments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(KUBEADM_COREFILE)
    _, out = rendered(capsys, "--context", "a", "--corefile", str(corefile))
    added = [line[1:] for line in _commented_diff(out) if line[:1] == "+" and line[:3] != "+++"]
    wired = wire(KUBEADM_COREFILE, PROBE_ADDRESS, "global", 5)
    assert wired.startswith(KUBEADM_COREFILE)  # kubeadm's Corefile: the block is appended
    assert "".join(f"{line}\n" for line in added) == wired[len(KUBEADM_COREFILE) :]
    assert f"{PROBE_ADDRESS} standing for the globaldns Service's ClusterIP" in out


def test_render_of_a_wired_corefile_says_there_is_no_edit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(wire(KUBEADM_COREFILE, PROBE_ADDRESS, "global", 5))
    _, out = rendered(capsys, "--context", "a", "--corefile", str(corefile))
    assert "# none: it already forwards global. to globaldns" in out


def test_render_without_a_corefile_says_the_edit_is_not_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out = rendered(capsys, "--context", "a")
    assert "no --corefile FILE given" in out


@pytest.mark.parametrize(
    ("name", "problem"),
    [("stray-closing-brace.Corefile", "Corefile line"), ("absent.Corefile", "cannot read it")],
)
def test_render_refuses_a_corefile_it_cannot_use_in_one_line(
    name: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    corefile = REFUSED / name
    assert main(["install", "--render", "--context", "a", "--corefile", str(corefile)]) == 2
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert out == ""
    assert f"--corefile {corefile}" in line and problem in line


def test_render_says_the_keep_wired_role_assumes_the_corefile(
    capsys: pytest.CaptureFixture[str],
) -> None:
    objects, out = rendered(capsys, "--context", "a", "--keep-wired")
    (writer,) = [
        o
        for o in objects
        if o["kind"] == "Role" and o["metadata"]["name"] == "globaldns-coredns-writer"
    ]
    assert [rule["resourceNames"] for rule in writer["rules"]] == [["coredns"]]
    assert "may write only kube-system/coredns here; install names the ConfigMap" in out
