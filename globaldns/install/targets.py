"""Where a cluster's DNS is wired: a Corefile (CoreDNS's, NodeLocal DNSCache's), the
`coredns-custom` ConfigMap that AKS and k3s import, kube-dns stubDomains, RKE2's
`HelmChartConfig`, or OpenShift's DNS operator.

Each target names the object it edits (`ref`), reads the part of it that wiring changes as a
`data` mapping of strings, and turns that into the wired and unwired versions, using the pure
edits of this package. `choose` picks the one a cluster's objects call for.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from globaldns.errors import GlobalDnsError
from globaldns.install import coredns_custom, kubedns, platforms
from globaldns.install.corefile import CorefileError, parse
from globaldns.install.kube import Obj, Ref
from globaldns.install.wiring import unwire, wire

KUBE_SYSTEM = "kube-system"
COREDNS = "coredns"
KUBE_DNS = "kube-dns"
COREFILE = "Corefile"
# NodeLocal DNSCache: its own Corefile, and the DaemonSet that shows it runs.
NODE_LOCAL_DNS = "node-local-dns"
# RKE2: the chart renders this ConfigMap (and reverts edits to it); its values are the way in.
RKE2_CONFIGMAP = "rke2-coredns-rke2-coredns"
RKE2_CONFIG = Ref("helm.cattle.io/v1", "HelmChartConfig", KUBE_SYSTEM, "rke2-coredns")
OPENSHIFT_DNS = Ref("operator.openshift.io/v1", "DNS", "", "default")
# RFC 5737: any valid address does to check up front that a target can be wired at all.
PROBE_ADDRESS = "192.0.2.53"


def configmap_ref(name: str) -> Ref:
    """The `kube-system` ConfigMap `name`, where the ConfigMap targets live."""
    return Ref("v1", "ConfigMap", KUBE_SYSTEM, name)


# Every object `choose` looks at, in the order it is read.
DNS_OBJECTS = (
    *(configmap_ref(n) for n in (COREDNS, coredns_custom.CUSTOM_CONFIGMAP, KUBE_DNS)),
    configmap_ref(NODE_LOCAL_DNS),
    configmap_ref(RKE2_CONFIGMAP),
    RKE2_CONFIG,
    OPENSHIFT_DNS,
)
Found = dict[Ref, Obj | None]


class WiringError(GlobalDnsError, ValueError):
    """The cluster's DNS configuration cannot be wired safely; the message says what to do."""


class Target(Protocol):
    @property
    def ref(self) -> Ref:
        """The object this target edits."""
        ...

    @property
    def via(self) -> str:
        """How the summary names this target."""
        ...

    def data(self, obj: Obj) -> dict[str, str]:
        """The part of `obj` wiring edits, as strings by key."""
        ...

    def with_data(self, obj: Obj, data: dict[str, str]) -> Obj:
        """`obj` with that part replaced by `data`."""
        ...

    def blank(self) -> Obj | None:
        """The object to create when it does not exist (None: it must exist)."""
        ...

    def wired(self, data: dict[str, str], address: str | None) -> dict[str, str]:
        """`data` with the zone forwarded to `address`; equal to `data` when it already is."""
        ...

    def unwired(
        self, data: dict[str, str], previous: dict[str, str | None]
    ) -> tuple[dict[str, str], str]:
        """`data` back as before install (`previous`: the edited keys' old values) and a note."""
        ...

    def needs_restart(self, data: dict[str, str]) -> bool:
        """Whether the DNS pods only see the change after a restart."""
        ...


class _ConfigMap:
    """A `kube-system` ConfigMap target: its `data`."""

    name: str

    @property
    def ref(self) -> Ref:
        return configmap_ref(self.name)

    def data(self, obj: Obj) -> dict[str, str]:
        return dict(obj.get("data") or {})

    def with_data(self, obj: Obj, data: dict[str, str]) -> Obj:
        return {**obj, "data": data}

    def blank(self) -> Obj | None:
        return None


@dataclass(frozen=True)
class CorefileTarget(_ConfigMap):
    """The `global:53` server block in `kube-system/coredns`'s Corefile (or, `node_local`, in
    NodeLocal DNSCache's, which pods ask first where it runs)."""

    zone: str
    ttl: int
    name: str = COREDNS
    via: str = "Corefile"
    node_local: bool = False

    def wired(self, data: dict[str, str], address: str | None) -> dict[str, str]:
        if COREFILE not in data:
            raise WiringError(
                f"{KUBE_SYSTEM}/{self.name} has no `{COREFILE}` key; its DNS is configured "
                "some other way: add a server block forwarding the zone by hand"
            )
        text = wire(data[COREFILE], address, self.zone, self.ttl, self.node_local)
        return {**data, COREFILE: text}

    def unwired(
        self, data: dict[str, str], previous: dict[str, str | None]
    ) -> tuple[dict[str, str], str]:
        result = unwire(data.get(COREFILE, ""), previous.get(COREFILE), self.zone)
        return {**data, COREFILE: result.text}, result.message

    def needs_restart(self, data: dict[str, str]) -> bool:
        return not parse(data[COREFILE]).has_reload()


@dataclass(frozen=True)
class CustomTarget(_ConfigMap):
    """AKS and k3s: our block under its own key of `coredns-custom`, whose `*.server` keys
    their CoreDNS imports (k3s: the ConfigMap is optional, so install creates it)."""

    zone: str
    ttl: int
    name: str = coredns_custom.CUSTOM_CONFIGMAP
    via: str = "coredns-custom"

    def blank(self) -> Obj | None:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.name, "namespace": KUBE_SYSTEM},
        }

    def wired(self, data: dict[str, str], address: str | None) -> dict[str, str]:
        return coredns_custom.wire_custom(data, address, self.zone, self.ttl)

    def unwired(
        self, data: dict[str, str], previous: dict[str, str | None]
    ) -> tuple[dict[str, str], str]:
        key = coredns_custom.server_key(self.zone)
        before = previous.get(key)
        rest = coredns_custom.unwire_custom(data, self.zone)
        restored = rest if before is None else {**rest, key: before}
        return restored, f"restored key {key} of {KUBE_SYSTEM}/{self.name}"

    def needs_restart(self, data: dict[str, str]) -> bool:
        # `reload` watches the Corefile only; AKS documents a restart after coredns-custom edits.
        return True


@dataclass(frozen=True)
class KubeDnsTarget(_ConfigMap):
    """kube-dns: a `stubDomains` entry sending the zone to globaldns (read live by kube-dns)."""

    zone: str
    name: str = KUBE_DNS
    via: str = "kube-dns stubDomains"

    def wired(self, data: dict[str, str], address: str | None) -> dict[str, str]:
        try:
            return kubedns.add_stub_domain(data, address, self.zone)
        except kubedns.KubeDnsError as err:
            raise WiringError(str(err)) from None

    def unwired(
        self, data: dict[str, str], previous: dict[str, str | None]
    ) -> tuple[dict[str, str], str]:
        removed = kubedns.remove_stub_domain(data, self.zone)
        before = previous.get(kubedns.STUB_DOMAINS)
        original = {k: v for k, v in data.items() if k != kubedns.STUB_DOMAINS}
        if before is not None:
            original[kubedns.STUB_DOMAINS] = before
        if _stubs(removed) == _stubs(kubedns.remove_stub_domain(original, self.zone)):
            return original, "restored stubDomains as saved at install time"
        return removed, "stubDomains was edited after install; removed only the zone's entry"

    def needs_restart(self, data: dict[str, str]) -> bool:
        return False


@dataclass(frozen=True)
class Rke2Target:
    """RKE2: a `servers` entry in the `rke2-coredns` chart's values, through the
    `HelmChartConfig` RKE2 merges into them (the rendered ConfigMap is reverted by the chart)."""

    zone: str
    ttl: int
    ref: Ref = RKE2_CONFIG
    via: str = "HelmChartConfig rke2-coredns"

    def data(self, obj: Obj) -> dict[str, str]:
        values = (obj.get("spec") or {}).get(platforms.VALUES)
        return {platforms.VALUES: values} if isinstance(values, str) else {}

    def with_data(self, obj: Obj, data: dict[str, str]) -> Obj:
        spec = {k: v for k, v in (obj.get("spec") or {}).items() if k != platforms.VALUES}
        if platforms.VALUES in data:
            spec[platforms.VALUES] = data[platforms.VALUES]
        return {**obj, "spec": spec}

    def blank(self) -> Obj | None:
        meta = {"name": self.ref.name, "namespace": self.ref.namespace}
        return {"apiVersion": self.ref.api_version, "kind": self.ref.kind, "metadata": meta}

    def wired(self, data: dict[str, str], address: str | None) -> dict[str, str]:
        edit = partial(platforms.rke2_wire, address=address, zone=self.zone, ttl=self.ttl)
        return _wired_key(self.ref, data, platforms.VALUES, edit, (platforms.PlatformError,))

    def unwired(
        self, data: dict[str, str], previous: dict[str, str | None]
    ) -> tuple[dict[str, str], str]:
        edit = partial(platforms.rke2_unwire, zone=self.zone)
        notes = (
            "restored the chart values saved at install time",
            "the values were edited since: removed our server",
        )
        return _unwired_key(data, previous, platforms.VALUES, edit, notes)

    def needs_restart(self, data: dict[str, str]) -> bool:
        return False  # the chart's Corefile has `reload`


@dataclass(frozen=True)
class OpenShiftTarget:
    """OpenShift: a `spec.servers` entry of the DNS operator's `default` DNS, which the
    operator renders into CoreDNS's Corefile (edits to the Corefile itself are reverted)."""

    zone: str
    ref: Ref = OPENSHIFT_DNS
    via: str = "DNS operator spec.servers"

    def data(self, obj: Obj) -> dict[str, str]:
        servers = (obj.get("spec") or {}).get(platforms.SERVERS)
        return {} if servers is None else {platforms.SERVERS: json.dumps(servers)}

    def with_data(self, obj: Obj, data: dict[str, str]) -> Obj:
        spec = {k: v for k, v in (obj.get("spec") or {}).items() if k != platforms.SERVERS}
        if platforms.SERVERS in data:
            spec[platforms.SERVERS] = json.loads(data[platforms.SERVERS])
        return {**obj, "spec": spec}

    def blank(self) -> Obj | None:
        return None  # the operator makes it

    def wired(self, data: dict[str, str], address: str | None) -> dict[str, str]:
        edit = partial(platforms.openshift_wire, address=address, zone=self.zone)
        return _wired_key(self.ref, data, platforms.SERVERS, edit, (ValueError,))

    def unwired(
        self, data: dict[str, str], previous: dict[str, str | None]
    ) -> tuple[dict[str, str], str]:
        edit = partial(platforms.openshift_unwire, zone=self.zone)
        notes = (
            "restored spec.servers as saved at install time",
            "spec.servers was edited since: removed our server",
        )
        return _unwired_key(data, previous, platforms.SERVERS, edit, notes)

    def needs_restart(self, data: dict[str, str]) -> bool:
        return False  # the operator rolls out the change


def _wired_key(
    ref: Ref,
    data: dict[str, str],
    key: str,
    wire_text: Callable[[str | None], str | None],
    refused: tuple[type[Exception], ...],
) -> dict[str, str]:
    """`data` with the platform's `key` wired by `wire_text` (the same mapping if unchanged);
    what it refuses is a `WiringError` naming `ref`."""
    text = data.get(key)
    try:
        wired = wire_text(text)
    except refused as err:
        raise WiringError(f"{ref}: {err}") from None
    return data if wired == text else {**data, key: str(wired)}


def _unwired_key(
    data: dict[str, str],
    previous: dict[str, str | None],
    key: str,
    unwire_text: Callable[[str | None, str | None], tuple[str | None, bool]],
    notes: tuple[str, str],
) -> tuple[dict[str, str], str]:
    """`data` with the platform's `key` unwired back to `previous`, and the note for restored
    exactly (first) or edited since (second)."""
    text, exact = unwire_text(data.get(key), previous.get(key))
    return _with_key(data, key, text), notes[0] if exact else notes[1]


def _with_key(data: dict[str, str], key: str, text: str | None) -> dict[str, str]:
    """`data` with `key` set to `text`, or without it when `text` is None."""
    rest = {k: v for k, v in data.items() if k != key}
    return rest if text is None else {**rest, key: text}


def node_local(zone: str, ttl: int) -> CorefileTarget:
    """NodeLocal DNSCache's Corefile (`kube-system/node-local-dns`)."""
    return CorefileTarget(zone, ttl, NODE_LOCAL_DNS, NODE_LOCAL_DNS, node_local=True)


def for_ref(ref: Ref, zone: str, ttl: int) -> Target:
    """The target that edits `ref` (the object an install record sits on)."""
    targets: list[Target] = [
        CorefileTarget(zone, ttl),
        node_local(zone, ttl),
        CustomTarget(zone, ttl),
        KubeDnsTarget(zone),
        Rke2Target(zone, ttl),
        OpenShiftTarget(zone),
    ]
    (target,) = (t for t in targets if t.ref == ref)
    return target


def _stubs(data: dict[str, str]) -> Any:
    return json.loads(data.get(kubedns.STUB_DOMAINS) or "{}")


def choose(found: Found, zone: str, ttl: int) -> Target:
    """The target these objects (None: absent) call for, checked up front.

    OpenShift's DNS operator and RKE2's chart own CoreDNS's configuration, so their own API is
    used; `coredns-custom` only where the Corefile imports its `*.server` keys (AKS, k3s);
    else the Corefile, else kube-dns. Wiring is tried with a probe address, so `WiringError`
    or `CorefileError` come before anything is written.
    """
    coredns = found.get(configmap_ref(COREDNS))
    target: Target
    if found.get(OPENSHIFT_DNS) is not None:
        target = OpenShiftTarget(zone)
    elif found.get(configmap_ref(RKE2_CONFIGMAP)) is not None:
        target = Rke2Target(zone, ttl)
    elif coredns is not None and _imports_custom(coredns):
        target = CustomTarget(zone, ttl)
    elif coredns is not None:
        target = CorefileTarget(zone, ttl)
    elif found.get(configmap_ref(KUBE_DNS)) is not None:
        target = KubeDnsTarget(zone)
    else:
        raise WiringError(
            f"no {KUBE_SYSTEM}/{COREDNS} ConfigMap (nor {KUBE_DNS}, RKE2's {RKE2_CONFIGMAP} or "
            f"OpenShift's DNS operator): this cluster's DNS is not one install knows; forward "
            f"{zone}. to the globaldns Service by hand, or create {KUBE_SYSTEM}/{KUBE_DNS} if "
            "it runs kube-dns"
        )
    chosen = found.get(target.ref) or target.blank() or {}
    target.wired(target.data(copy.deepcopy(chosen)), PROBE_ADDRESS)
    return target


def _imports_custom(coredns: Obj) -> bool:
    try:
        return parse(str((coredns.get("data") or {}).get(COREFILE, ""))).imports_custom_servers()
    except CorefileError:
        return False  # the Corefile target refuses it, naming the line
