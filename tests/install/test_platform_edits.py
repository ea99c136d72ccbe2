"""The pure edits behind RKE2 (chart values) and OpenShift (DNS operator `spec.servers`)
wiring: our server added beside the rest, the same text when already there, and unwired back
to exactly what was saved."""

from __future__ import annotations

import json

import pytest
import yaml

from globaldns.install import platforms

ADDRESS = "10.43.0.53"
EXAMPLE = {
    "name": "example-server",
    "zones": ["example.com"],
    "forwardPlugin": {"upstreams": ["1.1.1.1"]},
}


def test_rke2_wiring_twice_is_the_same_text() -> None:
    once = platforms.rke2_wire("nodelocal:\n  enabled: true\n", ADDRESS, "global", 5)
    assert platforms.rke2_wire(once, ADDRESS, "global", 5) == once


def test_rke2_replaces_a_server_for_the_zone_and_keeps_the_others() -> None:
    old = {
        "zones": [{"zone": "global"}],
        "port": 53,
        "plugins": [{"name": "forward", "parameters": ". 10.0.0.9"}],
    }
    other = {"zones": [{"zone": "."}], "port": 53, "plugins": [{"name": "errors"}]}
    wired = yaml.safe_load(
        str(platforms.rke2_wire(yaml.safe_dump({"servers": [other, old]}), ADDRESS, "global", 5))
    )
    assert wired["servers"] == [other, platforms.rke2_server(ADDRESS, "global", 5)]


def test_rke2_unwire_gives_back_the_saved_text() -> None:
    before = "nodelocal:\n  enabled: true   # keep me\n"
    wired = platforms.rke2_wire(before, ADDRESS, "global", 5)
    assert platforms.rke2_unwire(wired, before, "global") == (before, True)


def test_rke2_unwire_after_other_edits_removes_only_our_server() -> None:
    wired = yaml.safe_load(str(platforms.rke2_wire(None, ADDRESS, "global", 5)))
    wired["replicaCount"] = 3
    text, exact = platforms.rke2_unwire(yaml.safe_dump(wired), None, "global")
    assert not exact
    assert yaml.safe_load(str(text)) == {
        "servers": platforms.RKE2_DEFAULT_SERVERS,
        "replicaCount": 3,
    }


@pytest.mark.parametrize("values", ["[1, 2]", "servers: 7", "servers: [1]", "a: [unclosed"])
def test_rke2_values_of_another_shape_are_refused(values: str) -> None:
    with pytest.raises(platforms.PlatformError):
        platforms.rke2_wire(values, ADDRESS, "global", 5)


def test_openshift_replaces_a_server_for_the_zone_alone_and_unwire_puts_it_back() -> None:
    istiocoredns = {
        "name": "istio",
        "zones": ["global"],
        "forwardPlugin": {"upstreams": ["10.0.0.9"]},
    }
    before = json.dumps([EXAMPLE, istiocoredns])
    wired = platforms.openshift_wire(before, ADDRESS, "global")
    assert json.loads(wired) == [EXAMPLE, platforms.openshift_server(ADDRESS, "global")]
    assert platforms.openshift_unwire(wired, before, "global") == (before, True)


def test_openshift_wiring_twice_is_the_same_text() -> None:
    once = platforms.openshift_wire(json.dumps([EXAMPLE]), ADDRESS, "global")
    assert platforms.openshift_wire(once, ADDRESS, "global") == once


def test_openshift_servers_of_another_shape_are_refused() -> None:
    with pytest.raises(platforms.PlatformError):
        platforms.openshift_wire(json.dumps({"name": "x"}), ADDRESS, "global")


def test_openshift_ipv6_upstream_is_bracketed() -> None:
    (server,) = json.loads(platforms.openshift_wire(None, "fd00::53", "global"))
    assert server["forwardPlugin"]["upstreams"] == ["[fd00::53]:53"]
