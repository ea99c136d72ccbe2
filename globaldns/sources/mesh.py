"""The static mesh file: a YAML description of clusters and services, re-read when it changes.

Validation names the file, the field and the fix; a file that fails it never reaches the table,
so a bad edit leaves the last good table serving.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from globaldns.errors import GlobalDnsError
from globaldns.table.model import Cluster, Entry, Instance, Port, TableSink

log = logging.getLogger(__name__)

SOURCE = "mesh"
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$", re.IGNORECASE)
_PROTOCOLS = ("TCP", "UDP", "SCTP")


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


def load(path: Path) -> Mesh:
    """Read and validate a mesh file."""
    try:
        text = path.read_text()
    except OSError as err:
        raise MeshError(f"{path}: cannot read the mesh file: {err.strerror}") from err
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise MeshError(f"{path}: not valid YAML: {err}") from err
    return parse(doc, str(path))


def parse(doc: Any, where: str) -> Mesh:
    check = _Checker(where)
    root = check.mapping(
        doc,
        "the document",
        {"zone", "ttl", "localCluster", "clusters", "services", "serviceEntries"},
    )
    zone = check.optional_name(root.get("zone"), "zone")
    ttl = root.get("ttl")
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0):
        check.fail("ttl", f"must be a whole number of seconds >= 0, not {ttl!r}")
    local = root.get("localCluster")
    if local is not None and not isinstance(local, str):
        check.fail("localCluster", f"must be a cluster name, not {local!r}")

    clusters: dict[str, Cluster] = {}
    for i, item in enumerate(check.sequence(root.get("clusters", []), "clusters")):
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
    if local is not None and local not in clusters:
        check.fail("localCluster", f"{local!r} is not one of clusters[].name {sorted(clusters)}")

    instances: dict[tuple[str, str], Instance] = {}
    seen_services: set[str] = set()
    for i, item in enumerate(check.sequence(root.get("services", []), "services")):
        field = f"services[{i}]"
        item = check.mapping(item, field, {"name", "ports", "instances"})
        host = check.host(item.get("name"), f"{field}.name", zone)
        if host in seen_services:
            check.fail(f"{field}.name", f"service {host!r} is listed twice; merge its instances")
        seen_services.add(host)
        ports = check.ports(item.get("ports", []), f"{field}.ports")
        per_cluster = check.mapping(item.get("instances", {}), f"{field}.instances", None)
        for cluster, spec in per_cluster.items():
            sub = f"{field}.instances.{cluster}"
            if cluster not in clusters:
                check.fail(sub, f"cluster {cluster!r} is not one of clusters[].name")
            spec = check.mapping(spec, sub, {"addresses", "ready"})
            ready = spec.get("ready", 1)
            if not isinstance(ready, int) or isinstance(ready, bool) or ready < 0:
                check.fail(
                    f"{sub}.ready", f"must be a count of ready endpoints >= 0, not {ready!r}"
                )
            addresses = check.addresses(spec.get("addresses", []), f"{sub}.addresses")
            instances[(cluster, host)] = Instance(host, addresses, ready, ports)

    entries: dict[str, Entry] = {}
    for i, item in enumerate(check.sequence(root.get("serviceEntries", []), "serviceEntries")):
        field = f"serviceEntries[{i}]"
        item = check.mapping(item, field, {"hosts", "addresses", "ports"})
        hosts = tuple(
            check.host(h, f"{field}.hosts[{j}]", zone, require_zone=True)
            for j, h in enumerate(check.sequence(item.get("hosts"), f"{field}.hosts"))
        )
        if not hosts:
            check.fail(f"{field}.hosts", "needs at least one host ending in the zone")
        addresses = check.addresses(item.get("addresses", []), f"{field}.addresses")
        if not addresses:
            check.fail(f"{field}.addresses", "needs at least one address (the VIPs to answer)")
        ports = check.ports(item.get("ports", []), f"{field}.ports")
        entries[",".join(hosts)] = Entry(hosts, addresses, ports)
    return Mesh(zone, ttl, local, tuple(clusters.values()), instances, entries)


class _Checker:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field: str, message: str) -> None:
        raise MeshError(f"{self.where}: {field}: {message}")

    def mapping(self, value: Any, field: str, allowed: set[str] | None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(field, f"must be a mapping, not {type(value).__name__}")
        if allowed is not None:
            unknown = sorted(set(value) - allowed)
            if unknown:
                self.fail(field, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        return {str(k): v for k, v in value.items()}

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
        if not isinstance(value, str) or not all(
            _LABEL.match(part) for part in value.strip(".").split(".")
        ):
            self.fail(field, f"must be a DNS name such as 'global', not {value!r}")
        return value.strip(".").lower()

    def host(self, value: Any, field: str, zone: str | None, require_zone: bool = False) -> str:
        """A name relative to the zone; a trailing zone is accepted and stripped."""
        if not isinstance(value, str) or not value.strip("."):
            self.fail(field, f"must be a name such as 'foo' or 'httpbin.bar', not {value!r}")
        name = value.strip(".").lower()
        suffix = f".{zone or 'global'}"
        if name.endswith(suffix):
            name = name[: -len(suffix)]
        elif require_zone:
            self.fail(field, f"{value!r} must end in {suffix} to be served here")
        if not all(_LABEL.match(part) for part in name.split(".")):
            self.fail(field, f"{value!r} has a label that is not a DNS label")
        return name

    def addresses(self, value: Any, field: str) -> tuple[str, ...]:
        out: list[str] = []
        for j, address in enumerate(self.sequence(value, field)):
            try:
                out.append(str(ipaddress.ip_address(str(address))))
            except ValueError:
                self.fail(f"{field}[{j}]", f"{address!r} is not an IPv4 or IPv6 address")
        return tuple(dict.fromkeys(out))

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


def apply(mesh: Mesh, previous: Mesh | None, sink: TableSink) -> None:
    """Write the difference between two versions of the mesh into the table, then commit."""
    old_clusters = {c.name for c in previous.clusters} if previous else set()
    for cluster in mesh.clusters:
        sink.put_cluster(cluster)
    for name in old_clusters - {c.name for c in mesh.clusters}:
        sink.drop_cluster(name)
    old_instances = previous.instances if previous else {}
    for (cluster, key), instance in mesh.instances.items():
        if old_instances.get((cluster, key)) != instance:
            sink.put_instance(cluster, key, instance)
    for cluster, key in old_instances.keys() - mesh.instances.keys():
        sink.put_instance(cluster, key, None)
    old_entries = previous.entries if previous else {}
    for key, entry in mesh.entries.items():
        if old_entries.get(key) != entry:
            sink.put_entry(SOURCE, key, entry)
    for key in old_entries.keys() - mesh.entries.keys():
        sink.put_entry(SOURCE, key, None)
    sink.commit()


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


async def watch(
    path: Path,
    on_change: Callable[[Mesh], None],
    on_error: Callable[[MeshError], None],
    interval: float = 0.2,
) -> None:
    """Poll the file (ConfigMap mounts swap symlinks, so inotify on the file would miss it)."""
    last = _signature(path)
    while True:
        await asyncio.sleep(interval)
        current = _signature(path)
        if current == last:
            continue
        last = current
        try:
            mesh = load(path)
        except MeshError as err:
            on_error(err)
            continue
        on_change(mesh)
