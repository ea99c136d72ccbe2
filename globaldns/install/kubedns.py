"""Wiring for clusters that run kube-dns: the `stubDomains` entry of `kube-system/kube-dns`.

kube-dns reads `stubDomains` as JSON mapping a domain to a list of nameserver IPs. These
functions take and return the ConfigMap's `data` as a new dict, leaving every other key (and
the JSON text itself, when nothing changes) untouched.
"""

from __future__ import annotations

import json

from globaldns.errors import GlobalDnsError
from globaldns.install.corefile import fqdn
from globaldns.install.wiring import server_address

STUB_DOMAINS = "stubDomains"


class KubeDnsError(GlobalDnsError, ValueError):
    """The kube-dns ConfigMap holds something these functions must not overwrite."""


def add_stub_domain(
    data: dict[str, str], address: str | None, zone: str = "global"
) -> dict[str, str]:
    """`data` with `zone` sent to globaldns at `address`; equal to `data` if it already is."""
    server = str(server_address(address))
    stubs = _stub_domains(data)
    domain = _domain(zone)
    if stubs.get(domain) == [server]:
        return dict(data)
    return {**data, STUB_DOMAINS: json.dumps({**stubs, domain: [server]}, sort_keys=True)}


def remove_stub_domain(data: dict[str, str], zone: str = "global") -> dict[str, str]:
    """`data` without the `zone` stub domain; the key goes too when nothing else is left."""
    stubs = _stub_domains(data)
    domain = _domain(zone)
    if domain not in stubs:
        return dict(data)
    rest = {name: servers for name, servers in stubs.items() if name != domain}
    if not rest:
        return {key: value for key, value in data.items() if key != STUB_DOMAINS}
    return {**data, STUB_DOMAINS: json.dumps(rest, sort_keys=True)}


def _domain(zone: str) -> str:
    return fqdn(zone).removesuffix(".")


def _stub_domains(data: dict[str, str]) -> dict[str, list[str]]:
    text = data.get(STUB_DOMAINS, "").strip()
    if not text:
        return {}
    try:
        stubs = json.loads(text)
    except json.JSONDecodeError as error:
        raise KubeDnsError(
            f"kube-system/kube-dns {STUB_DOMAINS} is not valid JSON ({error}); fix it with "
            "`kubectl -n kube-system edit configmap kube-dns` and run install again"
        ) from None
    if not isinstance(stubs, dict):
        raise KubeDnsError(
            f"kube-system/kube-dns {STUB_DOMAINS} must be a JSON object of domain -> [IPs]; "
            "fix it with `kubectl -n kube-system edit configmap kube-dns`"
        )
    return stubs
