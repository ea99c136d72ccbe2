"""`globaldns compare` with our globaldns reading Kubernetes: the names and skipped
ServiceEntries come from the clusters through `/table`, and the same rules explain them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from harness import REPO
from tests.kubernetes.conftest import Mesh, endpoints, service, service_entry
from tests.support import Nsd

ISTIOCOREDNS_ZONE = """$ORIGIN global.
$TTL 3600
@ IN SOA ns.global. hostmaster.global. 1 3600 600 86400 5
@ IN NS ns.global.
legacy IN A 240.0.0.2
none IN A 240.0.0.5
"""


@pytest.fixture
def istiocoredns() -> Iterator[Nsd]:
    """NSD answering as istiocoredns did: ServiceEntry hosts only, NONE entries included."""
    server = Nsd("global", ISTIOCOREDNS_ZONE)
    yield server
    server.stop()


def test_names_from_the_clusters_are_compared_and_explained(mesh: Mesh, istiocoredns: Nsd) -> None:
    local = mesh.cluster("a", "west", "192.0.2.1")
    none = service_entry("none", ["none.global"], ["240.0.0.5"])
    none["spec"]["resolution"] = "NONE"
    legacy = service_entry("legacy", ["legacy.global"], ["240.0.0.2"])
    mesh.put(local, service("bar", "web"), endpoints("bar", "web", True), legacy, none)
    server = mesh.serve([local], local)
    mesh.wait_answer("legacy.global", ["240.0.0.2"])
    result = subprocess.run(
        [sys.executable, "-m", "globaldns", "compare", "--format", "json",
         "--against", f"127.0.0.1:{istiocoredns.port}",
         "--ours", f"127.0.0.1:{server.port}", "--admin", server.admin_address],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rules = {(d["name"], d["type"]): d["rule"] for d in json.loads(result.stdout)["differences"]}
    assert rules == {
        ("web.bar.global.", "A"): "derived-name",
        ("web.bar.global.", "AAAA"): "nodata",
        ("none.global.", "A"): "skipped",
        ("none.global.", "AAAA"): "skipped",  # NSD's NODATA against our NXDOMAIN
    }
