"""`install --zones global,clusterset.local` end to end on every platform, against the
Kubernetes emulator: each real Corefile of the corpus (and the crafted ones that are not the
option) gets both zones and `uninstall` gives every byte back; NodeLocal DNSCache, RKE2 and
OpenShift get the clusterset forward their own way; a cluster whose CoreDNS serves the
clusterset itself, or whose Corefile does not parse, is left exactly as it was."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from globaldns.install.corefile import parse
from globaldns.install.wiring import managed_block
from harness import GlobalDns
from harness.kube_emulator import EmulatorThread

from .conftest import COREFILES, Clusters, Run, configmap, new_clusters, remove
from .test_node_local import node_local_corefile, with_node_local
from .test_platforms import helm_chart_configs, openshift, openshift_dns, rke2  # noqa: F401
from .test_zones import ZONES
from .test_zones_corpus import REFUSED, UNPARSABLE, WIRED

WIRABLE = sorted(COREFILES.glob("*.Corefile")) + WIRED
KEPT = REFUSED + UNPARSABLE


@dataclass
class Many:
    clusters: Clusters
    originals: dict[str, str]
    install: Run

    def name(self, paths: list[Path], path: Path) -> str:
        return self.clusters.names[paths.index(path)]


def zones_wired(corefile: str) -> set[str]:
    parsed = parse(corefile)
    return {z for z in ("global", "clusterset.local") if managed_block(parsed, z) is not None}


def many(emulator: EmulatorThread, directory: Path, answering: str, paths: list[Path]) -> Many:
    texts = [path.read_text() for path in paths]
    clusters = new_clusters(emulator, directory, list(texts), answering=answering)
    originals = dict(zip(clusters.names, texts, strict=True))
    return Many(clusters, originals, clusters.globaldns("install", "--contexts", "all", *ZONES))


@pytest.fixture(scope="module")
def install_on(
    emulator: EmulatorThread, tmp_path_factory: pytest.TempPathFactory, standin: GlobalDns
) -> Iterator[Callable[[list[Path]], Many]]:
    """Runs `install --zones` over a cluster per Corefile; the clusters go at the end."""
    made: list[Many] = []

    def install(paths: list[Path]) -> Many:
        directory = tmp_path_factory.mktemp("zones")
        made.append(many(emulator, directory, f"127.0.0.1:{standin.port}", paths))
        return made[-1]

    yield install
    for each in made:
        remove(each.clusters)


@pytest.fixture(scope="module")
def wirable(install_on: Callable[[list[Path]], Many]) -> Many:
    return install_on(WIRABLE)


@pytest.fixture(scope="module")
def kept(install_on: Callable[[list[Path]], Many]) -> Many:
    return install_on(KEPT)


@pytest.mark.parametrize("path", WIRABLE, ids=[p.stem for p in WIRABLE])
def test_install_with_zones_wires_both_zones(wirable: Many, path: Path) -> None:
    assert wirable.install.status == 0, wirable.install.out + wirable.install.err
    name = wirable.name(WIRABLE, path)
    custom = wirable.clusters.configmap(name, "coredns-custom")
    if custom is not None:  # AKS, k3s: both keys there, the Corefile untouched
        assert {"global.server", "clusterset.local.server"} <= set(custom["data"])
        assert wirable.clusters.corefile(name) == wirable.originals[name]
    else:
        assert zones_wired(wirable.clusters.corefile(name)) == {"global", "clusterset.local"}


def test_uninstall_gives_every_corefile_back_byte_for_byte(wirable: Many) -> None:
    assert wirable.clusters.globaldns("uninstall", "--contexts", "all").status == 0
    for name, original in wirable.originals.items():
        assert wirable.clusters.corefile(name) == original, name
        assert wirable.clusters.configmap(name, "coredns-custom") is None


@pytest.mark.parametrize("path", KEPT, ids=[p.stem for p in KEPT])
def test_a_cluster_serving_the_clusterset_or_unparsable_is_left_as_it_was(
    kept: Many, path: Path
) -> None:
    name = kept.name(KEPT, path)
    assert kept.install.status != 0
    assert kept.clusters.corefile(name) == kept.originals[name]
    assert kept.clusters.writes(name) == []
    (line,) = [line for line in kept.install.out.splitlines() if line.startswith(name + " ")]
    assert "nothing was written" in line


def test_node_local_dns_gets_the_clusterset_forward_too(cluster: Clusters) -> None:
    name = with_node_local(cluster)
    assert cluster.globaldns("install", *ZONES).status == 0
    assert zones_wired(node_local_corefile(cluster, name)) == {"global", "clusterset.local"}
    before = (COREFILES / "nodelocaldns.Corefile").read_text()
    assert cluster.globaldns("uninstall").status == 0
    assert node_local_corefile(cluster, name) == before


def test_rke2_gets_a_clusterset_server_in_its_helm_chart_config(rke2: Clusters) -> None:  # noqa: F811
    assert rke2.globaldns("install", *ZONES).status == 0
    (config,) = helm_chart_configs(rke2)
    servers = yaml.safe_load(config["spec"]["valuesContent"])["servers"]
    assert [s["zones"][0]["zone"] for s in servers][-2:] == ["global.", "clusterset.local."]
    assert rke2.globaldns("uninstall").status == 0
    assert helm_chart_configs(rke2) == []


def test_rke2_refuses_values_serving_the_clusterset_itself(rke2: Clusters) -> None:  # noqa: F811
    (name,) = rke2.names
    block = "pods insecure\nmulticluster clusterset.local"
    plugin = {"name": "kubernetes", "parameters": "cluster.local", "configBlock": block}
    values = {"servers": [{"zones": [{"zone": "."}], "port": 53, "plugins": [plugin]}]}
    config: dict[str, Any] = {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": {"name": "rke2-coredns", "namespace": "kube-system"},
        "spec": {"valuesContent": yaml.safe_dump(values)},
    }
    rke2.control.put(name, config)
    rke2.control.clear_requests(name)
    run = rke2.globaldns("install", *ZONES)
    assert run.status != 0 and "multicluster clusterset.local" in run.out + run.err
    assert rke2.writes(name) == []


def test_openshift_gets_a_clusterset_server_beside_the_global_one(
    openshift: Clusters,  # noqa: F811
) -> None:
    assert openshift.globaldns("install", *ZONES).status == 0
    servers = openshift_dns(openshift)["spec"]["servers"]
    assert [s["name"] for s in servers][-2:] == ["globaldns", "globaldns-clusterset-local"]
    assert openshift.globaldns("uninstall").status == 0
    assert [s["name"] for s in openshift_dns(openshift)["spec"]["servers"]] == ["example-server"]


def test_kube_dns_gets_a_clusterset_stub_domain_and_gives_the_stubs_back(
    make_clusters: Callable[..., Clusters],
) -> None:
    cluster = make_clusters(corefile=None)
    (name,) = cluster.names
    stubs = '{"acme.local": ["1.2.3.4"]}'
    cluster.control.put(name, configmap("kube-dns", {"stubDomains": stubs}))
    assert cluster.globaldns("install", *ZONES).status == 0
    wired = json.loads(cluster.configmap(name, "kube-dns")["data"]["stubDomains"])
    assert set(wired) == {"acme.local", "global", "clusterset.local"}
    assert cluster.globaldns("uninstall").status == 0
    assert cluster.configmap(name, "kube-dns")["data"] == {"stubDomains": stubs}
