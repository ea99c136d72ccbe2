"""The manifests and the image speak the server's command line and config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from globaldns.cli import build_parser
from globaldns.settings import Settings, layers

from .conftest import REPO, find
from .dockerfile import stages


@pytest.fixture
def mounted_config(base: list[dict[str, Any]], tmp_path: Path) -> Path:
    """The ConfigMap's config.yaml as the pod sees it in its volume."""
    config = tmp_path / "config.yaml"
    config.write_text(find(base, "ConfigMap", "globaldns")["data"]["config.yaml"])
    return config


def _serve_settings(args: list[str], config: Path) -> Settings:
    """What `globaldns serve` resolves from these args, with --config read from `config`."""
    if "--config" in args:
        args = [*args]
        args[args.index("--config") + 1] = str(config)
    return layers(build_parser().parse_args(args), environ={}).build(Settings)


def test_deployment_runs_serve_on_its_ports_with_the_configmap(
    container: dict[str, Any], mounted_config: Path
) -> None:
    settings = _serve_settings(container["args"], mounted_config)
    ports = _serve_settings(
        ["serve", "--listen", "[::]:5353", "--admin", "[::]:9153"], mounted_config
    )
    assert (settings.server.listen, settings.server.admin) == (
        ports.server.listen,
        ports.server.admin,
    )
    answers = settings.answers
    assert (answers.zone, answers.ttl, settings.sources.local_cluster) == ("global", 5, None)
    assert settings.wiring.keep_wired is False


def test_keep_wired_deployment_switches_the_repair_on(
    keep_wired: list[dict[str, Any]], mounted_config: Path
) -> None:
    pod = find(keep_wired, "Deployment", "globaldns")["spec"]["template"]["spec"]
    assert _serve_settings(pod["containers"][0]["args"], mounted_config).wiring.keep_wired is True


def test_image_default_command_serves_where_the_deployment_does(
    container: dict[str, Any], mounted_config: Path
) -> None:
    (cmd,) = [i for i in stages(REPO / "Dockerfile")[-1] if i.keyword == "CMD"]
    image = _serve_settings(cmd.exec_form(), mounted_config)
    deployed = _serve_settings(container["args"], mounted_config)
    assert (image.server.listen, image.server.admin) == (
        deployed.server.listen,
        deployed.server.admin,
    )
