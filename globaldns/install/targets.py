"""Where a cluster's DNS is wired: the Corefile, AKS's `coredns-custom`, or kube-dns stubDomains.

Each target names the `kube-system` ConfigMap it edits and turns that ConfigMap's `data` into
the wired and unwired versions, using the pure edits of this package. `choose` picks the one a
cluster's ConfigMaps call for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from globaldns.errors import GlobalDnsError
from globaldns.install import coredns_custom, kubedns
from globaldns.install.corefile import parse
from globaldns.install.wiring import unwire, wire

KUBE_SYSTEM = "kube-system"
COREDNS = "coredns"
KUBE_DNS = "kube-dns"
# NodeLocal DNSCache: its own Corefile, and the DaemonSet that shows it runs.
NODE_LOCAL_DNS = "node-local-dns"
COREFILE = "Corefile"
# RFC 5737: any valid address does to check up front that a ConfigMap can be wired at all.
PROBE_ADDRESS = "192.0.2.53"


class WiringError(GlobalDnsError, ValueError):
    """The cluster's DNS configuration cannot be wired safely; the message says what to do."""


class Target(Protocol):
    @property
    def configmap(self) -> str:
        """The `kube-system` ConfigMap this target edits."""
        ...

    @property
    def via(self) -> str:
        """How the summary names this target."""
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


@dataclass(frozen=True)
class CorefileTarget:
    """The `global:53` server block in `kube-system/coredns`'s Corefile (or, `node_local`, in
    NodeLocal DNSCache's, which pods ask first where it runs)."""

    zone: str
    ttl: int
    configmap: str = COREDNS
    via: str = "Corefile"
    node_local: bool = False

    def wired(self, data: dict[str, str], address: str | None) -> dict[str, str]:
        if COREFILE not in data:
            raise WiringError(
                f"{KUBE_SYSTEM}/{self.configmap} has no `{COREFILE}` key; its DNS is configured "
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
class CustomTarget:
    """AKS: our block under its own key of `coredns-custom`, which the managed CoreDNS imports."""

    zone: str
    ttl: int
    configmap: str = coredns_custom.CUSTOM_CONFIGMAP
    via: str = "coredns-custom"

    def wired(self, data: dict[str, str], address: str | None) -> dict[str, str]:
        return coredns_custom.wire_custom(data, address, self.zone, self.ttl)

    def unwired(
        self, data: dict[str, str], previous: dict[str, str | None]
    ) -> tuple[dict[str, str], str]:
        key = coredns_custom.server_key(self.zone)
        before = previous.get(key)
        rest = coredns_custom.unwire_custom(data, self.zone)
        restored = rest if before is None else {**rest, key: before}
        return restored, f"restored key {key} of {KUBE_SYSTEM}/{self.configmap}"

    def needs_restart(self, data: dict[str, str]) -> bool:
        # `reload` watches the Corefile only; AKS documents a restart after coredns-custom edits.
        return True


@dataclass(frozen=True)
class KubeDnsTarget:
    """kube-dns: a `stubDomains` entry sending the zone to globaldns (read live by kube-dns)."""

    zone: str
    configmap: str = KUBE_DNS
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


def node_local(zone: str, ttl: int) -> CorefileTarget:
    """NodeLocal DNSCache's Corefile (`kube-system/node-local-dns`)."""
    return CorefileTarget(zone, ttl, NODE_LOCAL_DNS, NODE_LOCAL_DNS, node_local=True)


def for_configmap(name: str, zone: str, ttl: int) -> Target:
    """The target that edits the ConfigMap `name` (the one an install record sits on)."""
    targets: dict[str, Target] = {
        COREDNS: CorefileTarget(zone, ttl),
        NODE_LOCAL_DNS: node_local(zone, ttl),
        coredns_custom.CUSTOM_CONFIGMAP: CustomTarget(zone, ttl),
        KUBE_DNS: KubeDnsTarget(zone),
    }
    return targets[name]


def _stubs(data: dict[str, str]) -> Any:
    return json.loads(data.get(kubedns.STUB_DOMAINS) or "{}")


def choose(
    coredns: dict[str, Any] | None,
    custom: dict[str, Any] | None,
    kube_dns: dict[str, Any] | None,
    zone: str,
    ttl: int,
) -> Target:
    """The target these `kube-system` ConfigMaps (None: absent) call for, checked up front.

    Wiring is tried with a probe address, so `WiringError` or `CorefileError` come before
    anything is written: a cluster that cannot be wired is refused with nothing changed.
    """
    target: Target
    if custom is not None and coredns is not None:
        target, chosen = CustomTarget(zone, ttl), custom
    elif coredns is not None:
        target, chosen = CorefileTarget(zone, ttl), coredns
    elif kube_dns is not None:
        target, chosen = KubeDnsTarget(zone), kube_dns
    else:
        raise WiringError(
            f"no {KUBE_SYSTEM}/{COREDNS} ConfigMap (nor {KUBE_DNS}): this cluster's DNS is not "
            f"CoreDNS or kube-dns as installed by Kubernetes; forward {zone}. to the globaldns "
            f"Service by hand, or create {KUBE_SYSTEM}/{KUBE_DNS} if it runs kube-dns"
        )
    target.wired(chosen.get("data") or {}, PROBE_ADDRESS)
    return target
