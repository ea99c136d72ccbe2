"""The installer's tests. The Corefile edits take text and need nothing here; the rest run the
real command against the Kubernetes API emulator (one per session, tests/conftest.py): a fresh
cluster per test with the `kube-system` DNS ConfigMaps a platform would have."""

from __future__ import annotations

import argparse
import io
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from globaldns.install import command
from globaldns.settings import layers
from harness import GlobalDns
from harness.kube_emulator import ControlClient, EmulatorThread

COREFILES = Path(__file__).parent / "corefiles"
REFUSED = Path(__file__).parent / "refused"
KUBEADM_COREFILE = (COREFILES / "kubeadm-1.28.Corefile").read_text()
# AKS's managed Corefile imports coredns-custom's `*.server` keys: install wires there.
AKS_COREFILE = (COREFILES / "aks.Corefile").read_text()
_names = itertools.count()


@dataclass
class Run:
    """What one `globaldns install|uninstall` printed and returned."""

    status: int
    out: str
    err: str


@dataclass
class Clusters:
    """Fresh emulated clusters named after their contexts, and one kubeconfig with all of them."""

    names: list[str]
    kubeconfig: Path
    control: ControlClient
    # `install` asks this real server where a cluster's globaldns pods would answer.
    answering: str

    def globaldns(self, *args: str) -> Run:
        """Run the command as `globaldns` would, with this kubeconfig (and, for `install`, the
        stand-in server's address unless the test gives one)."""
        parser = argparse.ArgumentParser(prog="globaldns")
        command.add_parsers(parser.add_subparsers(dest="command", required=True))
        check = ["--check-address", self.answering]
        given = args[0] != "install" or "--check-address" in args
        parsed = parser.parse_args(
            [*args, "--kubeconfig", str(self.kubeconfig), *([] if given else check)]
        )
        out, err = io.StringIO(), io.StringIO()
        status = command.run(parsed, layers(parsed), out, err)
        return Run(status, out.getvalue(), err.getvalue())

    def configmap(self, cluster: str, name: str, namespace: str = "kube-system") -> Any:
        for obj in self.control.objects(cluster, "v1", "ConfigMap", namespace):
            if obj["metadata"]["name"] == name:
                return obj
        return None

    def corefile(self, cluster: str) -> str:
        return str(self.configmap(cluster, "coredns")["data"]["Corefile"])

    def writes(self, cluster: str) -> list[dict[str, Any]]:
        """Requests since the log was last cleared that could change something."""
        return [r for r in self.control.requests(cluster) if r["method"] != "GET"]


def configmap(name: str, data: dict[str, str] | None, **metadata: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "kube-system", **metadata},
    }
    if data is not None:
        obj["data"] = data
    return obj


@pytest.fixture(scope="session")
def standin() -> Iterator[GlobalDns]:
    """A real `globaldns serve` on loopback standing in for every emulated cluster's pods,
    which the emulator reports Ready but cannot run."""
    server = GlobalDns({"zone": "global", "clusters": [], "services": []}).start()
    yield server
    server.stop()


def new_clusters(
    emulator: EmulatorThread,
    directory: Path,
    corefiles: list[str | None],
    names: list[str] | None = None,
    answering: str = "",
) -> Clusters:
    """One cluster per entry, its `kube-system/coredns` holding that Corefile (None: none)."""
    names = names or [f"i{next(_names)}" for _ in corefiles]
    for name, corefile in zip(names, corefiles, strict=True):
        emulator.control.add_cluster(name)
        if corefile is not None:
            emulator.control.put(name, configmap("coredns", {"Corefile": corefile}))
    path = directory / f"kubeconfig-{names[0]}"
    path.write_text(yaml.safe_dump(emulator.control.kubeconfig(names)))
    return Clusters(names, path, emulator.control, answering)


def remove(clusters: Clusters) -> None:
    for name in clusters.names:
        clusters.control.remove_cluster(name)


@pytest.fixture
def make_clusters(
    emulator: EmulatorThread, tmp_path: Path, standin: GlobalDns
) -> Iterator[Callable[..., Clusters]]:
    made: list[Clusters] = []
    answering = f"127.0.0.1:{standin.port}"

    def make(count: int = 1, corefile: str | None = KUBEADM_COREFILE) -> Clusters:
        made.append(new_clusters(emulator, tmp_path, [corefile] * count, answering=answering))
        return made[-1]

    yield make
    for clusters in made:
        remove(clusters)


@pytest.fixture
def cluster(make_clusters: Callable[..., Clusters]) -> Clusters:
    return make_clusters()
