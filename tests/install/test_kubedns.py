"""kube-dns `stubDomains` wiring: our zone added and removed, everything else kept."""

from __future__ import annotations

import json

import pytest

from globaldns.install.kubedns import KubeDnsError, add_stub_domain, remove_stub_domain
from globaldns.install.wiring import AddressError

UPSTREAMS = {"upstreamNameservers": '["8.8.8.8"]'}


def test_global_is_added_as_a_stub_domain_pointing_at_globaldns() -> None:
    data = add_stub_domain(UPSTREAMS, "10.96.0.20")
    assert json.loads(data["stubDomains"]) == {"global": ["10.96.0.20"]}
    assert data["upstreamNameservers"] == UPSTREAMS["upstreamNameservers"]


def test_other_stub_domains_are_kept() -> None:
    data = add_stub_domain({"stubDomains": '{"acme.local": ["1.2.3.4"]}'}, "10.96.0.20")
    assert json.loads(data["stubDomains"]) == {"acme.local": ["1.2.3.4"], "global": ["10.96.0.20"]}


def test_adding_again_leaves_the_json_text_as_it_was() -> None:
    data = {"stubDomains": '{ "global": ["10.96.0.20"] }'}
    assert add_stub_domain(data, "10.96.0.20") == data


def test_a_new_address_repoints_the_stub_domain() -> None:
    data = add_stub_domain({"stubDomains": '{"global": ["10.0.0.5"]}'}, "fd00::20")
    assert json.loads(data["stubDomains"]) == {"global": ["fd00::20"]}


def test_removing_the_only_stub_domain_removes_the_key() -> None:
    assert remove_stub_domain(add_stub_domain(UPSTREAMS, "10.96.0.20")) == UPSTREAMS


def test_removing_keeps_the_other_stub_domains() -> None:
    data = {"stubDomains": '{"acme.local": ["1.2.3.4"], "global": ["10.96.0.20"]}'}
    assert json.loads(remove_stub_domain(data)["stubDomains"]) == {"acme.local": ["1.2.3.4"]}


def test_removing_an_absent_stub_domain_changes_nothing() -> None:
    data = {"stubDomains": '{"acme.local":["1.2.3.4"]}'}
    assert remove_stub_domain(data) == data


@pytest.mark.parametrize("text", ["{not json", '["global"]'])
def test_stub_domains_that_are_not_a_json_object_are_refused(text: str) -> None:
    with pytest.raises(KubeDnsError, match="kubectl -n kube-system edit configmap kube-dns"):
        add_stub_domain({"stubDomains": text}, "10.96.0.20")


def test_an_unusable_address_is_refused() -> None:
    with pytest.raises(AddressError):
        add_stub_domain({}, "None")
