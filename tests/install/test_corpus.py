"""The real-world Corefile corpus, end to end: one `install --contexts all` over a cluster per
Corefile wires each, a second install writes nothing, and uninstall gives back every original
byte for byte and removes every applied object."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from globaldns import manifests
from globaldns.install.coredns_custom import server_content
from globaldns.install.corefile import parse
from globaldns.install.wiring import wire
from harness import GlobalDns
from harness.kube_emulator import EmulatorThread

from .conftest import COREFILES, Clusters, Run, new_clusters, remove

CORPUS = sorted(COREFILES.glob("*.Corefile"))
IDS = [path.stem for path in CORPUS]


@dataclass
class Corpus:
    clusters: Clusters
    originals: dict[str, str]
    install: Run

    def cluster(self, path: Path) -> str:
        return self.clusters.names[CORPUS.index(path)]


@pytest.fixture(scope="module")
def corpus(
    emulator: EmulatorThread, tmp_path_factory: pytest.TempPathFactory, standin: GlobalDns
) -> Iterator[Corpus]:
    texts = [path.read_text() for path in CORPUS]
    directory = tmp_path_factory.mktemp("corpus")
    answering = f"127.0.0.1:{standin.port}"
    clusters = new_clusters(emulator, directory, list(texts), answering=answering)
    originals = dict(zip(clusters.names, texts, strict=True))
    yield Corpus(clusters, originals, clusters.globaldns("install", "--contexts", "all"))
    remove(clusters)


@pytest.fixture(scope="module")
def reinstall_writes(corpus: Corpus) -> dict[str, list[dict[str, Any]]]:
    for name in corpus.clusters.names:
        corpus.clusters.control.clear_requests(name)
    assert corpus.clusters.globaldns("install", "--contexts", "all").status == 0
    return {name: corpus.clusters.writes(name) for name in corpus.clusters.names}


@pytest.fixture(scope="module")
def uninstalled(corpus: Corpus, reinstall_writes: object) -> Run:
    return corpus.clusters.globaldns("uninstall", "--contexts", "all")


def service_ip(clusters: Clusters, cluster: str) -> str:
    (service,) = clusters.control.objects(cluster, "v1", "Service", "globaldns")
    return str(service["spec"]["clusterIP"])


def test_install_into_every_context_succeeds(corpus: Corpus) -> None:
    assert corpus.install.status == 0, corpus.install.out
    assert f"{len(CORPUS)}/{len(CORPUS)} clusters ok" in corpus.install.out


def imports_custom(path: Path) -> bool:
    """AKS and k3s import coredns-custom's `*.server` keys: wired there, the Corefile kept."""
    return parse(path.read_text()).imports_custom_servers()


CUSTOM = [path for path in CORPUS if imports_custom(path)]
PLAIN = [path for path in CORPUS if not imports_custom(path)]


def test_the_corpus_has_corefiles_importing_coredns_custom() -> None:
    assert {path.stem for path in CUSTOM} == {"aks", "k3s"}


@pytest.mark.parametrize("path", CUSTOM, ids=[p.stem for p in CUSTOM])
def test_install_wires_coredns_custom_where_the_corefile_imports_it(
    corpus: Corpus, path: Path
) -> None:
    name = corpus.cluster(path)
    address = service_ip(corpus.clusters, name)
    assert corpus.clusters.corefile(name) == corpus.originals[name]
    custom = corpus.clusters.configmap(name, "coredns-custom")["data"]
    assert custom == {"global.server": server_content(address)}


@pytest.mark.parametrize("path", PLAIN, ids=[p.stem for p in PLAIN])
def test_install_leaves_one_block_forwarding_to_the_service_and_all_else_as_it_was(
    corpus: Corpus, path: Path
) -> None:
    name = corpus.cluster(path)
    address = service_ip(corpus.clusters, name)
    corefile = corpus.clusters.corefile(name)
    assert corefile == wire(corpus.originals[name], address)
    (block,) = parse(corefile).blocks_serving("global")
    assert f"forward . {address}:53" in corefile[block.start : block.end]


@pytest.mark.parametrize("path", CORPUS, ids=IDS)
def test_install_again_writes_nothing(
    corpus: Corpus, reinstall_writes: dict[str, list[dict[str, Any]]], path: Path
) -> None:
    assert reinstall_writes[corpus.cluster(path)] == []


@pytest.mark.parametrize("path", CORPUS, ids=IDS)
def test_uninstall_restores_the_corefile_byte_for_byte(
    corpus: Corpus, uninstalled: Run, path: Path
) -> None:
    name = corpus.cluster(path)
    assert uninstalled.status == 0, uninstalled.out
    assert corpus.clusters.corefile(name) == corpus.originals[name]
    assert "annotations" not in corpus.clusters.configmap(name, "coredns")["metadata"]
    assert corpus.clusters.configmap(name, "coredns-custom") is None  # created, then deleted


@pytest.mark.parametrize("path", CORPUS, ids=IDS)
def test_uninstall_deletes_every_applied_object(
    corpus: Corpus, uninstalled: Run, path: Path
) -> None:
    name = corpus.cluster(path)
    left = [
        f"{obj['kind']} {obj['metadata']['name']}"
        for obj in manifests.load()
        if any(
            live["metadata"]["name"] == obj["metadata"]["name"]
            for live in corpus.clusters.control.objects(
                name, obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace")
            )
        )
    ]
    assert left == []
