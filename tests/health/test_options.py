"""The probe settings: the flags (SPEC §5) and a mesh file's `probePort`, checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from globaldns import cli
from globaldns.health.options import ProbeSettings
from globaldns.health.prober import targets
from globaldns.sources.mesh import MeshError, load, parse
from harness import REPO


def mesh_doc(probe_port: object) -> dict[str, object]:
    return {
        "localCluster": "a",
        "clusters": [
            {"name": "a"},
            {"name": "b", "gateways": ["127.0.0.2"], "probePort": probe_port},
        ],
    }


def test_a_clusters_probe_port_is_read_from_the_mesh_file() -> None:
    assert parse(mesh_doc(15443), "mesh.yaml").clusters[1].probe_port == 15443


@pytest.mark.parametrize("bad", [0, 70000, "15443", True])
def test_a_bad_probe_port_names_the_field(bad: object) -> None:
    with pytest.raises(MeshError, match=r"clusters\[1\]\.probePort: must be a port number"):
        parse(mesh_doc(bad), "mesh.yaml")


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--gateway-probe-port", "70000", "is not a port 1-65535 (or 0 to turn probing off)"),
        ("--gateway-probe-port", "tls", "is not a port"),
        ("--gateway-probe-interval", "0", "must be more than 0 seconds"),
        ("--gateway-probe-timeout", "-1", "must be >= 0 seconds"),
    ],
)
def test_a_bad_probe_flag_is_one_line_that_names_it(
    flag: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("clusters: [{name: a}]\n")
    assert cli.main(["serve", "--mesh", str(mesh), flag, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"flag {flag}" in err and message in err


def test_the_bundled_example_mesh_is_never_probed_by_default() -> None:
    example = load(REPO / "examples" / "mesh.yaml")
    assert targets(example.clusters, example.local_cluster, ProbeSettings()) == set()
