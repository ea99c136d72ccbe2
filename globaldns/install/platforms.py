"""Platforms that own CoreDNS's configuration and take the zone's forward their own way: RKE2
through the `rke2-coredns` chart's values (a `HelmChartConfig`), OpenShift through the DNS
operator (`dns.operator.openshift.io/default` `spec.servers`). Pure edits of those values,
like wiring.py's of a Corefile; targets.py puts them on the objects.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from globaldns.errors import GlobalDnsError
from globaldns.install.corefile import DNS_PORT, fqdn
from globaldns.install.wiring import forward_target

VALUES = "valuesContent"
SERVERS = "servers"
# OpenShift's `spec.servers` entry install owns, by name: this for `global.`, and
# `globaldns-<zone's labels joined by ->` for another zone (names are unique in `spec.servers`).
OPENSHIFT_SERVER = "globaldns"

# rancher/rke2-charts `rke2-coredns` values.yaml `servers` (coredns/helm's, which RKE2's patch
# keeps): what the chart renders when the HelmChartConfig sets none. Helm replaces lists, so
# adding a server means giving these too.
RKE2_DEFAULT_SERVERS: list[dict[str, Any]] = [
    {
        "zones": [{"zone": "."}],
        "port": 53,
        "plugins": [
            {"name": "errors"},
            {"name": "health", "configBlock": "lameduck 5s"},
            {"name": "ready"},
            {
                "name": "kubernetes",
                # The chart's template puts the cluster domain in front (rke2.Corefile).
                "parameters": "cluster.local in-addr.arpa ip6.arpa",
                "configBlock": "pods insecure\nfallthrough in-addr.arpa ip6.arpa\nttl 30",
            },
            {"name": "prometheus", "parameters": "0.0.0.0:9153"},
            {"name": "forward", "parameters": ". /etc/resolv.conf"},
            {"name": "cache", "parameters": 30},
            {"name": "loop"},
            {"name": "reload"},
            {"name": "loadbalance"},
        ],
    }
]


class PlatformError(GlobalDnsError, ValueError):
    """The platform's DNS configuration cannot be edited safely; the message says why and how."""


def rke2_values(text: str | None) -> dict[str, Any]:
    """The chart values in a HelmChartConfig's `valuesContent` (a YAML mapping)."""
    try:
        values = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as err:
        raise PlatformError(
            f"its {VALUES} is not YAML ({err}); fix it, then install again"
        ) from None
    if not isinstance(values, dict):
        raise PlatformError(f"its {VALUES} is not a YAML mapping; fix it, then install again")
    servers = values.get(SERVERS)
    if servers is not None and not (
        isinstance(servers, list) and all(isinstance(s, dict) for s in servers)
    ):
        raise PlatformError(f"its {VALUES} `{SERVERS}` is not a list of servers; fix it first")
    return values


def _serves_zone(server: dict[str, Any], zone: str) -> bool:
    zones = server.get("zones") or []
    return (
        any(isinstance(z, dict) and fqdn(str(z.get("zone", "."))) == fqdn(zone) for z in zones)
        and int(server.get("port") or DNS_PORT) == DNS_PORT
    )


def rke2_server(address: str | None, zone: str, ttl: int) -> dict[str, Any]:
    """The chart `servers` entry forwarding `zone` to globaldns."""
    return {
        "zones": [{"zone": fqdn(zone)}],
        "port": DNS_PORT,
        "plugins": [
            {"name": "errors"},
            {"name": "cache", "parameters": ttl},
            {"name": "forward", "parameters": f". {forward_target(address)}"},
        ],
    }


def rke2_wire(text: str | None, address: str | None, zone: str, ttl: int) -> str | None:
    """`valuesContent` with a server for `zone` (the chart's defaults kept, any other server for
    the zone replaced); the same text when it already is so."""
    values = rke2_values(text)
    servers = values.get(SERVERS) or RKE2_DEFAULT_SERVERS
    wired = [s for s in servers if not _serves_zone(s, zone)] + [rke2_server(address, zone, ttl)]
    if values.get(SERVERS) == wired:
        return text
    return yaml.safe_dump({**values, SERVERS: wired}, sort_keys=False)


def rke2_unwire(text: str | None, previous: str | None, zone: str) -> tuple[str | None, bool]:
    """`valuesContent` without our server: `previous` itself (True) when nothing else changed
    since install, else the current values without the zone's server."""
    values = rke2_values(text)
    servers = [s for s in values.get(SERVERS) or [] if not _serves_zone(s, zone)]
    rest = {**values, SERVERS: servers}
    before = rke2_values(previous)
    if rest == {**before, SERVERS: before.get(SERVERS) or RKE2_DEFAULT_SERVERS}:
        return previous, True
    return yaml.safe_dump(rest, sort_keys=False), False


def openshift_servers(text: str | None) -> list[dict[str, Any]]:
    """`spec.servers` as kept in a target's data (JSON); each entry a mapping."""
    servers = json.loads(text) if text else []
    if not isinstance(servers, list) or not all(isinstance(s, dict) for s in servers):
        raise PlatformError("its spec.servers is not a list of servers; fix it first")
    return servers


def openshift_server_name(zone: str) -> str:
    """Our `spec.servers` entry's name for `zone`, a DNS label: one entry per zone wired."""
    if fqdn(zone) == "global.":
        return OPENSHIFT_SERVER
    labels = fqdn(zone).removesuffix(".").replace(".", "-")
    return f"{OPENSHIFT_SERVER}-{labels}"[:63].rstrip("-")


def openshift_server(address: str | None, zone: str) -> dict[str, Any]:
    """The DNS operator `spec.servers` entry forwarding `zone` to globaldns."""
    return {
        "name": openshift_server_name(zone),
        "zones": [fqdn(zone).removesuffix(".")],
        "forwardPlugin": {"upstreams": [forward_target(address)]},
    }


def _openshift_serves(server: dict[str, Any], zone: str) -> bool:
    zones = server.get("zones") or []
    return server.get("name") == openshift_server_name(zone) or (
        isinstance(zones, list) and [fqdn(str(z)) for z in zones] == [fqdn(zone)]
    )


def openshift_wire(text: str | None, address: str | None, zone: str) -> str:
    """`spec.servers` (JSON) with ours for `zone`, replacing a server for that zone alone;
    a server naming the zone among others is refused (the operator refuses duplicates)."""
    servers = openshift_servers(text)
    for server in servers:
        zones = [fqdn(str(z)) for z in server.get("zones") or []]
        if fqdn(zone) in zones and not _openshift_serves(server, zone):
            raise PlatformError(
                f"spec.servers entry {server.get('name')!r} forwards {fqdn(zone)} with other "
                f"zones; give {fqdn(zone)} a server of its own, then install again"
            )
    kept = [s for s in servers if not _openshift_serves(s, zone)]
    wired = [*kept, openshift_server(address, zone)]
    return text if text and servers == wired else json.dumps(wired)


def openshift_unwire(text: str | None, previous: str | None, zone: str) -> tuple[str | None, bool]:
    """`spec.servers` without ours: `previous` itself (True; None: it had none) when nothing
    else changed since install."""
    kept = [s for s in openshift_servers(text) if not _openshift_serves(s, zone)]
    before = openshift_servers(previous)
    if kept == [s for s in before if not _openshift_serves(s, zone)]:
        return previous, True
    return json.dumps(kept), False
