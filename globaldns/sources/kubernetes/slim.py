"""API objects stripped to the few fields DNS needs, right where they are decoded.

Each `strip_*` takes one decoded JSON object and returns its key and a small frozen record, or
`None` for the record when the object is of no interest (not exported, no `.global` host), which
the caller treats exactly like a deletion. Nothing else of the object is kept.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import sys
from dataclasses import dataclass
from typing import Any

from globaldns.table.model import Entry, Port

log = logging.getLogger(__name__)

REGION_LABEL = "topology.kubernetes.io/region"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
PROBE_PORT_NAME = "tls"  # Istio's east-west gateway serves mTLS between clusters on it (15443)
DEFAULT_PROBE_PORT = 15443
_HOST = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)*$")
_SERVICE_ENTRY_UDP = ("UDP",)
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(\.{_OCTET}){{3}}")

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Gateway:
    """Where other clusters reach this one: literal IPs, hostnames still to resolve, and the
    port its addresses are probed on (the Service's port named `tls`, else 15443)."""

    ips: tuple[str, ...]
    hostnames: tuple[str, ...]
    probe_port: int = DEFAULT_PROBE_PORT


@dataclass(frozen=True, slots=True)
class SlimService:
    name: str
    namespace: str
    identity: str | None  # the Service's own identity label value
    exported: bool
    headless: bool
    cluster_ips: tuple[str, ...]
    ports: tuple[Port, ...]
    gateway: Gateway | None  # set only on the configured gateway Services


@dataclass(frozen=True, slots=True)
class SlimSlice:
    service: str  # namespace/name of the Service the EndpointSlice belongs to
    ready: int
    ready_addresses: tuple[str, ...]
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Selection:
    """Which Services are exported and how they are named; fixed for the process's life."""

    identity_label: str
    export_namespaces: frozenset[str]
    exclude_namespaces: frozenset[str]
    export_selector: str
    gateway_services: tuple[str, ...]
    zone: str

    def namespace_exported(self, namespace: str) -> bool:
        if namespace in self.exclude_namespaces:
            return False
        return not self.export_namespaces or namespace in self.export_namespaces

    def labels_match(self, labels: dict[str, str]) -> bool:
        for term in (t.strip() for t in self.export_selector.split(",")):
            if term and not _term_matches(term, labels):
                return False
        return True


def _term_matches(term: str, labels: dict[str, str]) -> bool:
    if term.startswith("!"):
        return term[1:] not in labels
    for op in ("!=", "==", "="):
        key, sep, value = term.partition(op)
        if sep:
            return labels.get(key) != value if op == "!=" else labels.get(key) == value
    return term in labels


def _meta(obj: Obj) -> tuple[str, str, dict[str, str]]:
    """Namespace, name and labels; the names interned, as every cluster repeats them."""
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    return sys.intern(namespace), sys.intern(name), meta.get("labels") or {}


def _key(namespace: str, name: str) -> str:
    """`namespace/name`, interned: the same Service's key in every cluster is one string."""
    return sys.intern(f"{namespace}/{name}") if namespace else name


def object_key(obj: Obj) -> str:
    namespace, name, _ = _meta(obj)
    return _key(namespace, name)


def dns_host(value: str | None) -> str | None:
    """The value as a name relative to the zone, or None when it cannot be one."""
    if not value:
        return None
    host = value.strip(".").lower()
    return host if _HOST.match(host) and len(host) <= 253 else None


def strip_service(obj: Obj, selection: Selection) -> tuple[str, SlimService | None]:
    namespace, name, labels = _meta(obj)
    key = _key(namespace, name)
    spec = obj.get("spec") or {}
    gateway = None
    if key in selection.gateway_services:
        gateway = _gateway(obj)
    exported = (
        gateway is None
        and spec.get("type") != "ExternalName"
        and selection.namespace_exported(namespace)
        and selection.labels_match(labels)
    )
    if not exported and gateway is None:
        return key, None
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    headless = "None" in ips
    return key, SlimService(
        name=name,
        namespace=namespace,
        identity=labels.get(selection.identity_label),
        exported=exported,
        headless=headless,
        cluster_ips=() if headless else tuple(_ips(ips)),
        ports=_shared_ports(
            tuple(
                (str(p.get("name") or ""), int(p["port"]), str(p.get("protocol") or "TCP"))
                for p in spec.get("ports") or ()
                if p.get("port")
            )
        ),
        gateway=gateway,
    )


def _gateway(obj: Obj) -> Gateway:
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ()
    external = (obj.get("spec") or {}).get("externalIPs") or ()
    ips = _ips([i["ip"] for i in ingress if i.get("ip")] + list(external))
    hostnames = tuple(dict.fromkeys(i["hostname"] for i in ingress if i.get("hostname")))
    ports = (obj.get("spec") or {}).get("ports") or ()
    tls = [p["port"] for p in ports if p.get("name") == PROBE_PORT_NAME and p.get("port")]
    return Gateway(tuple(ips), hostnames, int(tls[0]) if tls else DEFAULT_PROBE_PORT)


def strip_endpoint_slice(obj: Obj, selection: Selection) -> tuple[str, SlimSlice | None]:
    namespace, _, labels = _meta(obj)
    key = object_key(obj)
    service = labels.get(SERVICE_NAME_LABEL)
    gateway = f"{namespace}/{service}" in selection.gateway_services
    if not service or not (gateway or selection.namespace_exported(namespace)):
        return key, None
    ready = 0
    ready_addresses: list[str] = []
    addresses: list[str] = []
    for endpoint in obj.get("endpoints") or ():
        found = endpoint.get("addresses") or ()
        addresses.extend(found)
        if (endpoint.get("conditions") or {}).get("ready") is not False:
            ready += 1
            ready_addresses.extend(found)
    return key, SlimSlice(
        _key(namespace, service),
        ready,
        tuple(dict.fromkeys(_ips(ready_addresses))),
        tuple(dict.fromkeys(_ips(addresses))),
    )


def strip_namespace(obj: Obj, selection: Selection) -> tuple[str, str | None]:
    """A Namespace matters only for the identity its label gives its Services."""
    _, name, labels = _meta(obj)
    return name, labels.get(selection.identity_label)


def strip_node(obj: Obj, selection: Selection) -> tuple[str, str | None]:
    _, name, labels = _meta(obj)
    return name, labels.get(REGION_LABEL)


def strip_service_entry(obj: Obj, selection: Selection) -> tuple[str, Entry | None]:
    key = object_key(obj)
    spec = obj.get("spec") or {}
    suffix = f".{selection.zone}"
    hosts = tuple(
        dict.fromkeys(
            h.strip(".").lower()[: -len(suffix)]
            for h in spec.get("hosts") or ()
            if isinstance(h, str) and h.strip(".").lower().endswith(suffix)
        )
    )
    hosts = tuple(h for h in hosts if dns_host(h))
    addresses = tuple(dict.fromkeys(_ips(_cidr_hosts(spec.get("addresses") or ()))))
    if not hosts or not addresses:
        return key, None
    ports = tuple(
        Port(
            str(p.get("name") or "").lower(),
            int(p["number"]),
            "UDP" if str(p.get("protocol", "")).upper() in _SERVICE_ENTRY_UDP else "TCP",
        )
        for p in spec.get("ports") or ()
        if p.get("number")
    )
    return key, Entry(hosts, addresses, ports)


def strip_secret(obj: Obj, selection: Selection) -> tuple[str, dict[str, str] | None]:
    """A remote-cluster Secret: cluster ID (its data key, as Istio keys them) -> base64
    kubeconfig, and under `CREATED` its creationTimestamp (the oldest Secret of a cluster
    wins). Held, never logged."""
    data = obj.get("data") or {}
    clusters = {str(k): str(v) for k, v in data.items() if str(k) != CREATED}
    if not clusters:
        return object_key(obj), None
    created = str((obj.get("metadata") or {}).get("creationTimestamp") or "")
    return object_key(obj), {**clusters, CREATED: created}


# Not a cluster ID (those are DNS labels): where a Secret's record keeps its creation time.
CREATED = "/created"


def _cidr_hosts(values: Any) -> list[str]:
    """ServiceEntry addresses may be CIDRs; only single-address ones name a VIP."""
    out = []
    for value in values:
        try:
            network = ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            continue
        if network.num_addresses == 1:
            out.append(str(network.network_address))
    return out


@functools.lru_cache(maxsize=1024)
def _shared_ports(ports: tuple[tuple[str, int, str], ...]) -> tuple[Port, ...]:
    """Services mostly share a few port lists: one tuple of Ports for each."""
    return tuple(Port(*port) for port in ports)


def _ips(values: Any) -> list[str]:
    """The valid addresses, canonical; a canonical IPv4 address (most are) is kept unparsed."""
    out = []
    for value in values:
        text = str(value)
        if _CANONICAL_IPV4.fullmatch(text):
            out.append(text)
            continue
        try:
            out.append(str(ipaddress.ip_address(text)))
        except ValueError:
            continue
    return out
