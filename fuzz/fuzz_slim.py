"""Fuzz the API-object strippers and the raw-JSON decode of lists and watch events.

Whatever JSON a cluster's API sends, each stripper gives a slim record or a skip (its record
None), and the decode path gives records, or refuses the body as `UndecodableBody` (or reads it
as the API error it says it is: `Gone`, `Failed`). A slim record must be servable: every field
of the type it declares, addresses that parse, ports of 1-65535 with names that can own an SRV
record, hosts that are DNS names.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import sys
from dataclasses import is_dataclass, replace
from functools import partial
from typing import Any, get_type_hints

import atheris
import msgspec

with atheris.instrument_imports(include=["globaldns"]):
    from globaldns.sources.kubernetes import mcs, mcs_imports, slim
    from globaldns.sources.kubernetes.bodies import Decode, UndecodableBody, page
    from globaldns.sources.kubernetes.options import Selection
    from globaldns.sources.kubernetes.watch import Failed, Gone, Resource, ResourceWatch
    from globaldns.table.model import Entry, Port

LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")  # a per-pod name
SELECTION = Selection(
    identity_label="identity",
    export_namespaces=frozenset(),
    exclude_namespaces=frozenset({"kube-system"}),
    export_selector="export!=no,!private",
    gateway_services=("istio-system/istio-eastwestgateway",),
    zone="global",
)
STRIPS = [
    partial(strip, selection=SELECTION)
    for strip in (
        slim.strip_service,
        slim.strip_endpoint_slice,
        slim.strip_namespace,
        slim.strip_node,
        slim.strip_service_entry,
        slim.strip_secret,
        mcs.strip_service_export,
        mcs_imports.strip_service_import,
        mcs_imports.strip_import_slice,
    )
]
# The kinds whose lists msgspec decodes: each page must read as its dicts would.
DECODES: dict[Any, Decode] = {
    STRIPS[0]: partial(slim.decode_service, selection=SELECTION),
    STRIPS[1]: partial(slim.decode_endpoint_slice, selection=SELECTION),
    STRIPS[8]: partial(mcs_imports.decode_import_slice, selection=SELECTION),
}
RESOURCES = [Resource("fuzzed", ("/fuzz",), strip, decode=DECODES.get(strip)) for strip in STRIPS]
PROTOCOLS = ("TCP", "UDP", "SCTP")
# What can own a record, written independently of the code under test: a port name makes an
# SRV owner label `_name`; a host is dotted labels, 253 characters at most.
PORT_NAME = re.compile(r"[a-z0-9_-]{1,62}")
HOST = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*")
REFUSALS = (UndecodableBody, Gone, Failed)


class Feed:
    """Where a watch puts what it decodes; each record is checked as it arrives."""

    def replace(self, kind: str, records: dict[str, Any]) -> None:
        raise AssertionError("only lists replace")

    def put(self, kind: str, key: str, record: Any) -> None:
        check(key, record)

    def listed(self, kind: str) -> None: ...

    def failed(self, kind: str, error: str, unreachable: bool) -> None: ...


WATCHES = [
    ResourceWatch(None, resource, Feed(), 1.0, None, 1.0)  # type: ignore[arg-type]
    for resource in RESOURCES
]


def check_port(port: Port) -> None:
    assert type(port.port) is int and 0 < port.port < 65536, f"bad port {port!r}"
    assert port.protocol in PROTOCOLS, f"bad protocol {port!r}"
    assert port.name == "" or PORT_NAME.fullmatch(port.name), f"bad port name {port!r}"


def check_value(value: Any, hint: Any, where: str) -> None:
    """`value` is of the declared type `hint` (the few shapes slim records use)."""
    origin = getattr(hint, "__origin__", None)
    args: tuple[Any, ...] = getattr(hint, "__args__", ())
    if hint is Any:
        return
    if origin is tuple:
        assert isinstance(value, tuple), f"{where}: {value!r} is not a tuple"
        for item in value:
            check_value(item, args[0], where)
    elif args and type(None) in args:  # X | None
        if value is not None:
            check_value(value, next(a for a in args if a is not type(None)), where)
    elif is_dataclass(hint) or (isinstance(hint, type) and issubclass(hint, msgspec.Struct)):
        check_record(value, hint)
    else:
        assert type(value) is hint, f"{where}: {value!r} is not a {hint}"


def check_record(record: Any, cls: Any) -> None:
    assert type(record) is cls, f"{record!r} is not a {cls}"
    for name, hint in get_type_hints(cls).items():  # a dataclass's or a struct's fields
        check_value(getattr(record, name), hint, f"{cls.__name__}.{name}")
    if isinstance(record, Port):
        check_port(record)


def check_address(address: str) -> None:
    assert str(ipaddress.ip_address(address)) == address, f"address {address!r} not canonical"


def check_host(host: str) -> None:
    assert HOST.fullmatch(host) and len(host) <= 253, f"bad host {host!r}"


def check(key: Any, record: Any) -> None:
    assert isinstance(key, str), f"key {key!r} is not text"
    if record is None or isinstance(record, str):  # a skip, a namespace's identity, a region
        return
    if isinstance(record, dict):  # a remote Secret: cluster name -> base64 kubeconfig
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in record.items())
        return
    if isinstance(record, tuple):  # an imported slice: (its source cluster, the slice)
        cluster, found = record
        assert LABEL.fullmatch(cluster), f"source cluster not a label {cluster!r}"
        check(key, found)
        return
    check_record(record, type(record))
    if isinstance(record, slim.SlimService):
        check_host(f"{record.name}.{record.namespace}")
        assert "." not in record.name + record.namespace, (
            f"name or namespace not a label {record!r}"
        )
        addresses = list(record.cluster_ips)
        if record.gateway is not None:
            addresses += record.gateway.ips
            for hostname in record.gateway.hostnames:
                check_host(hostname)
    elif isinstance(record, slim.SlimSlice):
        addresses = [*record.addresses, *record.ready_addresses]
        addresses += [a for pod in record.pods for a in pod.addresses]
        for pod in record.pods:
            assert LABEL.fullmatch(pod.name), f"per-pod name not a label {pod!r}"
    elif isinstance(record, mcs.SlimExport):
        addresses = []
    else:
        assert isinstance(record, Entry), f"unexpected record {record!r}"
        addresses = list(record.addresses)
        for host in record.hosts:  # `*.` may lead a name below the zone: a wildcard
            check_host(host.removeprefix("*."))
        for host in record.outside:  # outside the zone: absolute, to explain
            assert host.endswith("."), f"host outside the zone not absolute {host!r}"
            check_host(host[:-1].removeprefix("*."))
    for address in addresses:
        check_address(address)


def listed(data: bytes, resource: Resource) -> Any:
    """The page `data` is, or the class of the refusal it gets."""
    try:
        return page(data, resource.strip, resource.decode)
    except REFUSALS as err:
        return type(err)


def TestOneInput(data: bytes) -> None:
    for resource, watch in zip(RESOURCES, WATCHES, strict=True):
        found = listed(data, resource)
        if resource.decode is not None:
            assert found == listed(data, replace(resource, decode=None)), "decoded unlike dicts"
        if isinstance(found, tuple):
            records, token, version = found
            assert isinstance(token, str) and isinstance(version, str)
            for key, record in records.items():
                assert record is not None, "a list keeps a skip"
                check(key, record)
        with contextlib.suppress(*REFUSALS):
            assert isinstance(watch._event(data, "1"), str), "the version is not text"


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
