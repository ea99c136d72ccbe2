"""The mesh file's schema: a YAML description of clusters and services, validated into a `Mesh`.

Validation names the file, the field and the fix; a file that fails it never reaches the table,
so a bad edit leaves the last good table serving. What a new version changes, and how it is
applied, is `mesh.py`'s.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from globaldns.config import MAX_TTL, free_gradually, read_bytes, yaml_document
from globaldns.dns.compile import srv_names
from globaldns.dns.wire import Unfit, fits
from globaldns.errors import GlobalDnsError
from globaldns.table.model import (
    Cluster,
    Endpoint,
    Entry,
    Export,
    Instance,
    Port,
    Resolution,
    ServiceKind,
    entry_address,
)

log = logging.getLogger(__name__)

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$", re.IGNORECASE)
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_ROOT_KEYS = {"zone", "ttl", "localCluster", "clusters", "services", "serviceEntries"}


class MeshError(GlobalDnsError, ValueError):
    """The mesh file is invalid; the message says where and how to fix it."""


@dataclass(frozen=True, slots=True)
class Mesh:
    zone: str | None
    ttl: int | None
    local_cluster: str | None
    clusters: tuple[Cluster, ...]
    instances: dict[tuple[str, str], Instance]  # (cluster, service name) -> instance
    entries: dict[str, Entry]
    changed: float | None = None  # the file's mtime: replicas reading one file agree on it
    # (cluster, service name) -> what it exports to the clusterset (services with `export`)
    exports: dict[tuple[str, str], Export] = field(default_factory=dict)


def load(path: Path) -> Mesh:
    """Read and validate a mesh file; its mtime (taken first: a later write is read again)
    dates the content, for the SOA serial."""
    try:
        changed: float | None = os.stat(path).st_mtime
    except OSError:
        changed = None  # read_bytes names the problem
    return dataclasses.replace(
        loads(read_bytes(path, "mesh file", MeshError), str(path)), changed=changed
    )


def loads(data: bytes, where: str) -> Mesh:
    """Validate the bytes of a mesh file read from `where` (the file's name, for messages)."""
    doc = yaml_document(data, where, "mesh file", MeshError)
    if doc is None:
        log.warning("%s: the mesh file is empty: no names to serve", where, extra={"file": where})
    try:
        return parse(doc, where)
    finally:
        free_gradually(doc)


def parse(doc: Any, where: str) -> Mesh:
    """Validate a YAML document (as read) of the file `where` into a Mesh."""
    check = _Checker(where)
    root = check.mapping(doc, "the document", _ROOT_KEYS)
    zone = check.optional_name(root.get("zone"), "zone")
    ttl = root.get("ttl")
    if ttl is not None and (
        not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= MAX_TTL
    ):
        check.fail("ttl", f"must be a whole number of seconds 0-{MAX_TTL} (RFC 2181), not {ttl!r}")
    local = root.get("localCluster")
    if local is not None and not isinstance(local, str):
        check.fail("localCluster", f"must be a cluster name, not {local!r}")
    clusters = _clusters(check, root.get("clusters", []))
    if local is not None and local not in clusters:
        check.fail("localCluster", f"{local!r} is not one of clusters[].name {sorted(clusters)}")
    exports: dict[tuple[str, str], Export] = {}
    instances = _services(check, root.get("services", []), zone, clusters, exports)
    entries = _entries(check, root.get("serviceEntries", []), zone)
    return Mesh(zone, ttl, local, tuple(clusters.values()), instances, entries, exports=exports)


def _clusters(check: _Checker, items: Any) -> dict[str, Cluster]:
    """`clusters:`, by name."""
    clusters: dict[str, Cluster] = {}
    for i, item in enumerate(check.sequence(items, "clusters")):
        field = f"clusters[{i}]"
        item = check.mapping(item, field, {"name", "region", "gateways", "probePort"})
        name = check.label(item.get("name"), f"{field}.name")
        if name in clusters:
            check.fail(f"{field}.name", f"cluster {name!r} is listed twice; keep one")
        region = item.get("region")
        if region is not None:
            region = check.label(region, f"{field}.region")
        gateways = check.addresses(item.get("gateways", []), f"{field}.gateways")
        probe_port = item.get("probePort")
        if probe_port is not None:
            probe_port = check.port(probe_port, f"{field}.probePort")
        clusters[name] = Cluster(name=name, region=region, gateways=gateways, probe_port=probe_port)
    return clusters


def _services(
    check: _Checker,
    items: Any,
    zone: str | None,
    clusters: dict[str, Cluster],
    exports: dict[tuple[str, str], Export],
) -> dict[tuple[str, str], Instance]:
    """`services:`, one Instance per (cluster, service name); into `exports`, one Export per
    cluster of a service with `export`."""
    instances: dict[tuple[str, str], Instance] = {}
    seen_services: set[str] = set()
    for i, item in enumerate(check.sequence(items, "services")):
        field = f"services[{i}]"
        item = check.mapping(item, field, {"name", "ports", "instances", "export"})
        host = check.host(item.get("name"), f"{field}.name", zone)
        ports = check.ports(item.get("ports", []), f"{field}.ports")
        check.served(host, ports, zone, f"{field}.ports")
        if host in seen_services:
            check.fail(f"{field}.name", f"service {host!r} is listed twice; merge its instances")
        seen_services.add(host)
        exported = _export(check, item.get("export"), f"{field}.export", host)
        per_cluster = check.mapping(item.get("instances", {}), f"{field}.instances", None)
        for cluster, spec in per_cluster.items():
            sub = f"{field}.instances.{cluster}"
            if cluster not in clusters:
                check.fail(sub, f"cluster {cluster!r} is not one of clusters[].name")
            spec = check.mapping(spec, sub, {"addresses", "ready", "endpoints"})
            ready = spec.get("ready", 1)
            if not isinstance(ready, int) or isinstance(ready, bool) or ready < 0:
                check.fail(
                    f"{sub}.ready", f"must be a count of ready endpoints >= 0, not {ready!r}"
                )
            addresses = check.addresses(spec.get("addresses", []), f"{sub}.addresses")
            instances[(cluster, host)] = Instance(host, addresses, ready, ports)
            endpoints = _endpoints(check, spec.get("endpoints"), f"{sub}.endpoints")
            if exported is not None:
                name, namespace, kind = exported
                vips = addresses if kind == ServiceKind.CLUSTERSET_IP else ()
                if kind == ServiceKind.HEADLESS and not endpoints and ready:
                    endpoints = (Endpoint("", addresses),)  # ready, without per-pod names
                exports[(cluster, host)] = Export(
                    name, namespace, host, kind, vips, ready, ports, endpoints
                )
    return instances


def _export(
    check: _Checker, value: Any, field: str, host: str
) -> tuple[str, str, ServiceKind] | None:
    """`export:` (true, or a mapping of `name`, `namespace`, `headless`): the service's name
    and namespace in the clusterset (by default its own `name.namespace`), and its kind."""
    if value is None or value is False:
        return None
    spec = {} if value is True else check.mapping(value, field, {"name", "namespace", "headless"})
    first, _, rest = host.partition(".")
    name = check.label(spec.get("name", first), f"{field}.name")
    namespace = spec.get("namespace", rest)
    if not namespace or "." in namespace:
        check.fail(f"{field}.namespace", f"give the namespace of {host!r} in the clusterset")
    headless = spec.get("headless", False)
    if not isinstance(headless, bool):
        check.fail(f"{field}.headless", f"must be true or false, not {headless!r}")
    kind = ServiceKind.HEADLESS if headless else ServiceKind.CLUSTERSET_IP
    return name, check.label(namespace, f"{field}.namespace"), kind


def _endpoints(check: _Checker, value: Any, field: str) -> tuple[Endpoint, ...]:
    """`endpoints:` of a headless service's instance: ready ones, `hostname` and `addresses`."""
    out = []
    for j, item in enumerate(check.sequence(value, field)):
        sub = f"{field}[{j}]"
        item = check.mapping(item, sub, {"hostname", "addresses"})
        hostname = check.label(item.get("hostname"), f"{sub}.hostname")
        out.append(Endpoint(hostname, check.addresses(item.get("addresses"), f"{sub}.addresses")))
    return tuple(out)


def _entries(check: _Checker, items: Any, zone: str | None) -> dict[str, Entry]:
    """`serviceEntries:`, keyed by their hosts joined with commas."""
    entries: dict[str, Entry] = {}
    for i, item in enumerate(check.sequence(items, "serviceEntries")):
        field = f"serviceEntries[{i}]"
        item = check.mapping(item, field, {"hosts", "addresses", "ports", "resolution"})
        hosts = tuple(
            check.host(h, f"{field}.hosts[{j}]", zone, require_zone=True, wildcard=True)
            for j, h in enumerate(check.sequence(item.get("hosts"), f"{field}.hosts"))
        )
        if not hosts:
            check.fail(f"{field}.hosts", "needs at least one host ending in the zone")
        given = check.sequence(item.get("addresses", []), f"{field}.addresses")
        addresses = check.vips(given, f"{field}.addresses")
        ports = check.ports(item.get("ports", []), f"{field}.ports")
        for host in hosts:
            check.served(host, ports, zone, f"{field}.ports")
        resolution = check.resolution(item.get("resolution"), f"{field}.resolution")
        skipped = None  # as a ServiceEntry in a cluster; none given is --default-address's
        if resolution == Resolution.NONE:
            skipped = Unfit.RESOLUTION_NONE
        elif given and not addresses:
            skipped = Unfit.WIDE_CIDR
        entries[",".join(hosts)] = Entry(hosts, addresses, ports, field, skipped)
    return entries


class _Checker:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field: str, message: str) -> NoReturn:
        raise MeshError(f"{self.where}: {field}: {message}")

    def mapping(self, value: Any, field: str, allowed: set[str] | None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(field, f"must be a mapping, not {type(value).__name__}")
        for key in value:
            if not isinstance(key, str):
                self.fail(field, f"key {key!r} must be text; quote it (YAML read it as a value)")
        if allowed is not None:
            unknown = sorted(set(value) - allowed)
            if unknown:
                self.fail(field, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        return dict(value)

    def sequence(self, value: Any, field: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(field, f"must be a list, not {type(value).__name__}")
        return value

    def label(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not _LABEL.match(value):
            self.fail(field, f"must be a DNS label (letters, digits, '-'), not {value!r}")
        return value.lower()

    def optional_name(self, value: Any, field: str) -> str | None:
        if value is None:
            return None
        if (
            not isinstance(value, str)
            or not all(_LABEL.match(part) for part in value.strip(".").split("."))
            or not fits(value)
        ):
            self.fail(field, f"must be a DNS name such as 'global', not {value!r}")
        return value.strip(".").lower()

    def host(
        self,
        value: Any,
        field: str,
        zone: str | None,
        require_zone: bool = False,
        wildcard: bool = False,
    ) -> str:
        """A name relative to the zone; a trailing zone is accepted and stripped. With
        `wildcard`, `*` may be its whole first label, above a name in the zone (`*.shard`)."""
        if not isinstance(value, str) or not value.strip("."):
            self.fail(field, f"must be a name such as 'foo' or 'httpbin.bar', not {value!r}")
        name = value.strip(".").lower()
        suffix = f".{zone or 'global'}"
        if name.endswith(suffix):
            name = name[: -len(suffix)]
        elif require_zone:
            self.fail(field, f"{value!r} must end in {suffix} to be served here")
        if wildcard and name == "*":
            self.fail(
                field,
                f"{value!r} would answer every name of the zone; name the part below it "
                f"(such as '*.shard{suffix}')",
            )
        parts = name.split(".")
        if wildcard and parts[0] == "*":
            parts = parts[1:]
        if not all(_LABEL.match(part) for part in parts):
            self.fail(field, f"{value!r} has a label that is not a DNS label")
        if not fits(f"{name}{suffix}"):
            self.fail(
                field, f"{value!r} is longer than a DNS name may be (255 bytes with {suffix})"
            )
        return name

    def served(self, host: str, ports: tuple[Port, ...], zone: str | None, field: str) -> None:
        """Every SRV owner of `host` (`_http._tcp.host`) must be a DNS name too."""
        for owner, port in srv_names(host, ports):
            if not fits(f"{owner}.{zone or 'global'}"):
                self.fail(field, f"port {port.name!r} makes {owner!r}, longer than DNS allows")

    def addresses(self, value: Any, field: str) -> tuple[str, ...]:
        out: list[str] = []
        for j, address in enumerate(self.sequence(value, field)):
            try:
                out.append(str(ipaddress.ip_address(str(address))))
            except ValueError:
                self.fail(f"{field}[{j}]", f"{address!r} is not an IPv4 or IPv6 address")
        return tuple(dict.fromkeys(out))

    def vips(self, values: list[Any], field: str) -> tuple[str, ...]:
        """ServiceEntry addresses: IPs or CIDRs; a CIDR wider than one address names none."""
        out: list[str] = []
        for j, value in enumerate(values):
            try:
                address = entry_address(str(value))
            except ValueError:
                self.fail(f"{field}[{j}]", f"{value!r} is not an IP address or a CIDR")
            if address is not None:
                out.append(address)
        return tuple(dict.fromkeys(out))

    def resolution(self, value: Any, field: str) -> Resolution:
        """Istio's `resolution`; none given reads as STATIC (the addresses are the VIPs)."""
        if value is None:
            return Resolution.STATIC
        try:
            return Resolution(str(value).upper())
        except ValueError:
            self.fail(field, f"must be one of {[r.value for r in Resolution]}, not {value!r}")

    def port(self, value: Any, field: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
            self.fail(field, f"must be a port number 1-65535, not {value!r}")
        return int(value)

    def ports(self, value: Any, field: str) -> tuple[Port, ...]:
        out: list[Port] = []
        for j, item in enumerate(self.sequence(value, field)):
            sub = f"{field}[{j}]"
            item = self.mapping(item, sub, {"name", "port", "protocol"})
            port = self.port(item.get("port"), f"{sub}.port")
            protocol = str(item.get("protocol", "TCP")).upper()
            if protocol not in _PROTOCOLS:
                self.fail(f"{sub}.protocol", f"must be one of {_PROTOCOLS}, not {protocol!r}")
            name = item.get("name", "")
            if name:
                name = self.label(name, f"{sub}.name")
            out.append(Port(name, port, protocol))
        return tuple(out)
