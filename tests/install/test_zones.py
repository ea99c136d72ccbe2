"""`install --zones global,clusterset.local`: the Multi-Cluster Services zone forwarded to the
same globaldns beside `global:53` (SPEC §7), refused where CoreDNS serves it itself, and
`uninstall` taking both out again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from globaldns.cli import main
from globaldns.install.corefile import parse
from globaldns.install.wiring import managed_block

from .conftest import KUBEADM_COREFILE, Clusters

ZONES = ("--zones", "global,clusterset.local")
# The kubernetes plugin serving the clusterset zone itself (CoreDNS's multicluster option).
MULTICLUSTER_COREFILE = KUBEADM_COREFILE.replace(
    "kubernetes cluster.local in-addr.arpa ip6.arpa {",
    "kubernetes cluster.local in-addr.arpa ip6.arpa {\n       multicluster clusterset.local",
)


def _wired(corefile: str, zone: str) -> bool:
    return managed_block(parse(corefile), zone) is not None


def test_install_with_zones_wires_clusterset_local_beside_global(cluster: Clusters) -> None:
    (name,) = cluster.names
    assert cluster.globaldns("install", *ZONES).status == 0
    corefile = cluster.corefile(name)
    assert _wired(corefile, "global") and _wired(corefile, "clusterset.local")


def test_install_without_zones_leaves_clusterset_local_alone(cluster: Clusters) -> None:
    (name,) = cluster.names
    assert cluster.globaldns("install").status == 0
    assert not _wired(cluster.corefile(name), "clusterset.local")


def test_uninstall_restores_the_corefile_saved_before_both_zones(cluster: Clusters) -> None:
    (name,) = cluster.names
    cluster.globaldns("install", *ZONES)
    run = cluster.globaldns("uninstall")
    assert run.status == 0
    assert cluster.corefile(name) == KUBEADM_COREFILE
    assert "restored the Corefile saved at install time" in run.out


def test_install_refuses_where_coredns_serves_the_clusterset_itself(
    make_clusters: Callable[..., Clusters],
) -> None:
    clusters = make_clusters(corefile=MULTICLUSTER_COREFILE)
    (name,) = clusters.names
    run = clusters.globaldns("install", *ZONES)
    assert run.status != 0
    assert "multicluster clusterset.local" in run.out + run.err
    assert "nothing was written" in run.out + run.err
    assert clusters.corefile(name) == MULTICLUSTER_COREFILE


def test_render_shows_both_zones_edit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(KUBEADM_COREFILE)
    assert main(["install", "--render", "--context", "a", "--corefile", str(corefile), *ZONES]) == 0
    out = capsys.readouterr().out
    assert "# +global:53 {" in out and "# +clusterset.local:53 {" in out


def test_render_refuses_a_corefile_serving_the_clusterset_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(MULTICLUSTER_COREFILE)
    assert main(["install", "--render", "--context", "a", "--corefile", str(corefile), *ZONES]) == 2
    assert "serves clusterset.local itself" in capsys.readouterr().err
