"""`globaldns table --format serviceentry NAME...`: the Istio ServiceEntry routing a name
derived from a Service through the east-west gateways, checked against what Istio's
validation requires."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from globaldns.table.serviceentry import vip

MESH: dict[str, Any] = {
    "zone": "global",
    "localCluster": "west1",
    "clusters": [
        {"name": "west1", "region": "us-west", "gateways": ["192.0.2.1"]},
        {"name": "west2", "region": "us-west", "gateways": ["192.0.2.2"]},
        {"name": "east1", "region": "us-east", "gateways": ["192.0.2.3", "2001:db8::3"]},
    ],
    "services": [
        {
            "name": "foo",
            "ports": [
                {"name": "http", "port": 80},
                {"name": "grpc-api", "port": 9090},
                {"name": "dns", "port": 53, "protocol": "UDP"},
            ],
            "instances": {
                "west1": {"addresses": ["10.0.0.1"], "ready": 1},
                "east1": {"addresses": ["10.2.0.1"], "ready": 1},
            },
        },
        {
            "name": "db.data",
            "ports": [{"name": "", "port": 5432}],
            "instances": {"west2": {"addresses": ["10.1.0.1"], "ready": 1}},
        },
        {"name": "portless", "instances": {"east1": {"addresses": ["10.2.0.9"], "ready": 1}}},
    ],
    "serviceEntries": [{"hosts": ["legacy.global"], "addresses": ["240.0.0.2"]}],
}
ISTIO_PROTOCOLS = {"HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS"}


@pytest.fixture(scope="module")
def mesh_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serviceentry") / "mesh.yaml"
    path.write_text(yaml.safe_dump(MESH))
    return path


def table(mesh_file: Path, *names: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "globaldns", "table", "--mesh", str(mesh_file)]
    return subprocess.run(
        [*command, "--format", "serviceentry", *names], capture_output=True, text=True, timeout=60
    )


def entries(mesh_file: Path, *names: str) -> list[dict[str, Any]]:
    done = table(mesh_file, *names)
    assert done.returncode == 0, done.stderr
    return list(yaml.safe_load_all(done.stdout))


def istio_problems(entry: dict[str, Any]) -> list[str]:
    """What Istio's ServiceEntry validation would refuse in `entry` (the rules that apply to
    a STATIC, MESH_INTERNAL entry with a VIP)."""
    spec = entry["spec"]
    problems = []
    if entry["apiVersion"] not in ("networking.istio.io/v1beta1", "networking.istio.io/v1"):
        problems.append("apiVersion")
    if not spec.get("hosts") or any("/" in h or h.startswith("*") for h in spec["hosts"]):
        problems.append("hosts")
    ports = spec.get("ports") or []
    names = [p.get("name") for p in ports]
    if not ports or len(set(names)) != len(names) or not all(names):
        problems.append("port names")
    if any(p["protocol"] not in ISTIO_PROTOCOLS or not 0 < p["number"] < 65536 for p in ports):
        problems.append("port protocol or number")
    if spec.get("location") not in ("MESH_INTERNAL", "MESH_EXTERNAL"):
        problems.append("location")
    if spec.get("resolution") != "STATIC" or not spec.get("endpoints"):
        problems.append("a STATIC entry needs endpoints")
    for address in spec.get("addresses", []) + [e["address"] for e in spec["endpoints"]]:
        ipaddress.ip_address(address)  # STATIC: IP addresses only
    for endpoint in spec["endpoints"]:
        if not set(endpoint.get("ports", {})) <= set(names):
            problems.append(f"endpoint {endpoint['address']} names an undeclared port")
    return problems


def test_the_output_is_one_valid_service_entry_per_name(mesh_file: Path) -> None:
    found = entries(mesh_file, "foo.global", "db.data.global")
    assert [e["kind"] for e in found] == ["ServiceEntry", "ServiceEntry"]
    assert [e["spec"]["hosts"] for e in found] == [["foo.global"], ["db.data.global"]]
    assert [istio_problems(e) for e in found] == [[], []]


def test_remote_gateways_are_endpoints_on_15443_with_their_region_as_locality(
    mesh_file: Path,
) -> None:
    (foo,) = entries(mesh_file, "foo")
    remote = [e for e in foo["spec"]["endpoints"] if "ports" in e]
    assert remote == [
        {
            "address": "192.0.2.3",
            "ports": {"http": 15443, "grpc-api": 15443},
            "locality": "us-east",
        },
        {
            "address": "2001:db8::3",
            "ports": {"http": 15443, "grpc-api": 15443},
            "locality": "us-east",
        },
    ]


def test_the_local_cluster_is_an_endpoint_on_the_services_own_ports(mesh_file: Path) -> None:
    (foo,) = entries(mesh_file, "foo.global")
    assert {"address": "10.0.0.1", "locality": "us-west"} in foo["spec"]["endpoints"]


def test_ports_come_from_the_service_and_udp_is_left_out(mesh_file: Path) -> None:
    (foo,) = entries(mesh_file, "foo.global")
    assert foo["spec"]["ports"] == [
        {"number": 80, "name": "http", "protocol": "HTTP"},
        {"number": 9090, "name": "grpc-api", "protocol": "GRPC"},
    ]


def test_an_unnamed_port_is_named_after_its_number(mesh_file: Path) -> None:
    (db,) = entries(mesh_file, "db.data.global")
    assert db["spec"]["ports"] == [{"number": 5432, "name": "tcp-5432", "protocol": "TCP"}]
    assert db["spec"]["endpoints"] == [
        {"address": "192.0.2.2", "ports": {"tcp-5432": 15443}, "locality": "us-west"}
    ]


def test_the_vip_is_the_names_own_in_240_0_0_0_4(mesh_file: Path) -> None:
    (foo,) = entries(mesh_file, "foo.global")
    assert foo["spec"]["addresses"] == [vip("foo.global")]
    assert ipaddress.ip_address(vip("foo.global")) in ipaddress.ip_network("240.0.0.0/4")
    assert vip("foo.global") != vip("db.data.global")


@pytest.mark.parametrize(
    ("names", "said"),
    [
        (("legacy.global",), "legacy.global. is of kind entry"),
        (("portless.global",), "portless.global. names no TCP port"),
        ((), "name the Services' names to render"),
    ],
)
def test_what_cannot_be_rendered_is_refused_saying_why(
    mesh_file: Path, names: tuple[str, ...], said: str
) -> None:
    done = table(mesh_file, *names)
    assert done.returncode == 1 and done.stdout == ""
    assert said in done.stderr
