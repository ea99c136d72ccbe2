"""`--zones global,clusterset.local` on every platform's real configuration, as pure edits: the
clusterset block (or key, or server) beside the global one, idempotent, undone byte for byte;
and the refusal of a configuration whose CoreDNS serves the clusterset itself, read from the
crafted Corefiles of tests/install/multicluster/ (the option in another block, a snippet, a
one-line block, among nested braces; the word in a comment or another plugin's arguments,
which is not the option). A configuration that does not parse is refused, never guessed at."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from globaldns.install.corefile import CorefileError, parse
from globaldns.install.kube import Ref
from globaldns.install.targets import (
    COREFILE,
    OPENSHIFT_DNS,
    RKE2_CONFIG,
    WiringError,
    choose,
    configmap_ref,
    node_local,
)
from globaldns.install.wiring import managed_block
from globaldns.install.zones import MCS_ZONE, across, refuse_served

from .conftest import COREFILES

ADDRESS = "10.96.0.53"
ALSO = (MCS_ZONE,)
CRAFTED = Path(__file__).parent / "multicluster"
PLATFORMS = Path(__file__).parent / "platforms"
CORPUS = sorted(COREFILES.glob("*.Corefile"))
REFUSED = sorted(CRAFTED.glob("refused-*.Corefile"))
WIRED = sorted(CRAFTED.glob("wired-*.Corefile"))
UNPARSABLE = sorted(CRAFTED.glob("unparsable-*.Corefile"))
COREDNS = configmap_ref("coredns")


def found_with(corefile: str) -> dict[Ref, Any]:
    return {COREDNS: {"data": {COREFILE: corefile}}}


def both_zones(corefile: str) -> set[str]:
    parsed = parse(corefile)
    return {zone for zone in ("global", MCS_ZONE) if managed_block(parsed, zone) is not None}


def ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


@pytest.mark.parametrize("path", CORPUS + WIRED, ids=ids(CORPUS + WIRED))
def test_every_corefile_gets_both_zones_idempotently_and_gives_them_back(path: Path) -> None:
    found = found_with(path.read_text())
    refuse_served(found, ALSO)
    target = across(choose(found, "global", 5), ALSO, 5)
    data = target.data(found.get(target.ref) or target.blank() or {})
    wired = target.wired(data, ADDRESS)
    if target.ref == COREDNS:
        assert both_zones(wired[COREFILE]) == {"global", MCS_ZONE}
    else:  # AKS and k3s: keys of coredns-custom, the Corefile untouched
        assert {"global.server", "clusterset.local.server"} <= set(wired)
    assert target.wired(wired, ADDRESS) == wired
    assert target.unwired(wired, {key: data.get(key) for key in wired})[0] == data


def test_node_local_dns_gets_a_clusterset_block_bound_and_forwarded_as_the_global_one() -> None:
    text = (COREFILES / "nodelocaldns.Corefile").read_text()
    target = across(node_local("global", 5), ALSO, 5)
    wired = target.wired({COREFILE: text}, ADDRESS)[COREFILE]
    blocks = [managed_block(parse(wired), zone) for zone in ("global", MCS_ZONE)]
    bodies = [wired[b.start : b.end].split("{", 1)[1] for b in blocks if b is not None]
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert "bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__" in bodies[1]
    assert "force_tcp" in bodies[1]
    assert target.unwired({COREFILE: wired}, {COREFILE: text})[0] == {COREFILE: text}


@pytest.mark.parametrize("path", REFUSED, ids=ids(REFUSED))
def test_a_corefile_serving_the_clusterset_itself_is_refused(path: Path) -> None:
    with pytest.raises(WiringError, match=r"multicluster clusterset\.local"):
        refuse_served(found_with(path.read_text()), ALSO)


@pytest.mark.parametrize("path", REFUSED, ids=ids(REFUSED))
def test_the_same_corefile_without_zones_is_not_refused(path: Path) -> None:
    refuse_served(found_with(path.read_text()), ())


@pytest.mark.parametrize("path", UNPARSABLE, ids=ids(UNPARSABLE))
def test_a_corefile_that_does_not_parse_is_refused_not_guessed(path: Path) -> None:
    with pytest.raises(CorefileError):
        refuse_served(found_with(path.read_text()), ALSO)


def test_a_coredns_custom_server_key_serving_the_clusterset_is_refused() -> None:
    server = (CRAFTED / "refused-other-block.Corefile").read_text().split("\n\n", 1)[1]
    found = {configmap_ref("coredns-custom"): {"data": {"mcs.server": server}}}
    with pytest.raises(WiringError, match="coredns-custom"):
        refuse_served(found, ALSO)


def rke2_found(values: dict[str, Any] | None) -> dict[Ref, Any]:
    config = yaml.safe_load((PLATFORMS / "rke2-helmchartconfig.yaml").read_text())
    if values is not None:
        config["spec"]["valuesContent"] = yaml.safe_dump(values)
    rendered = (COREFILES / "rke2.Corefile").read_text()
    return {
        configmap_ref("rke2-coredns-rke2-coredns"): {"data": {COREFILE: rendered}},
        RKE2_CONFIG: config,
    }


def test_rke2_values_get_a_clusterset_server_and_give_it_back() -> None:
    found = rke2_found(None)
    target = across(choose(found, "global", 5), ALSO, 5)
    data = target.data(found[RKE2_CONFIG])
    wired = target.wired(data, ADDRESS)
    servers = yaml.safe_load(wired["valuesContent"])["servers"]
    zones = [server["zones"][0]["zone"] for server in servers]
    assert zones[-2:] == ["global.", "clusterset.local."]
    assert target.unwired(wired, dict(data))[0] == data


def test_rke2_values_whose_kubernetes_plugin_serves_the_clusterset_are_refused() -> None:
    plugin = {
        "name": "kubernetes",
        "parameters": "cluster.local clusterset.local",
        "configBlock": "pods insecure\nmulticluster clusterset.local",
    }
    found = rke2_found({"servers": [{"zones": [{"zone": "."}], "plugins": [plugin]}]})
    with pytest.raises(WiringError, match="HelmChartConfig"):
        refuse_served(found, ALSO)


def test_openshift_gets_one_server_per_zone_named_apart_and_gives_them_back() -> None:
    dns = yaml.safe_load((PLATFORMS / "openshift-dns-default.yaml").read_text())
    found = {OPENSHIFT_DNS: dns}
    target = across(choose(found, "global", 5), ALSO, 5)
    data = target.data(copy.deepcopy(dns))
    wired = target.with_data(copy.deepcopy(dns), target.wired(data, ADDRESS))
    servers = wired["spec"]["servers"]
    assert [(s["name"], s["zones"]) for s in servers] == [
        ("example-server", ["example.com"]),
        ("globaldns", ["global"]),
        ("globaldns-clusterset-local", ["clusterset.local"]),
    ]
    assert target.wired(target.data(wired), ADDRESS) == target.data(wired)
    assert target.unwired(target.data(wired), dict(data))[0] == data


def test_a_clusterset_block_install_did_not_write_is_refused_not_taken_over() -> None:
    lighthouse = (CRAFTED / "foreign-lighthouse.Corefile").read_text()
    with pytest.raises(WiringError, match=r"server block install did not write"):
        refuse_served(found_with(lighthouse), ALSO)
    refuse_served(found_with(lighthouse), ())  # wiring global alone leaves it be


def test_a_clusterset_block_install_wrote_is_not_refused_on_the_next_run() -> None:
    found = found_with((COREFILES / "kubeadm-1.28.Corefile").read_text())
    target = across(choose(found, "global", 5), ALSO, 5)
    wired = target.wired(target.data(found[COREDNS]), ADDRESS)
    refuse_served(found_with(wired[COREFILE]), ALSO)
