"""The wiring watchdog: is this cluster's DNS still forwarding the zone to us?

Platforms revert DNS ConfigMaps (addon managers, managed upgrades), and a lost block silently
sends `.global` queries to the public `global` TLD. So every interval the server asks, rather
than reads: it resolves each wired zone's reserved name (`_globaldns-wiring.<zone>` TXT, which
only this cluster's globaldns answers with its identity; `--zone` and the `--wiring-zones`
install wired beside it, such as `clusterset.local`) through the resolvers pods use (the pod's
own `/etc/resolv.conf`: the cluster DNS Service, or NodeLocal DNSCache where pods ask it) or
`--wiring-check-address`, and exports `globaldns_coredns_wired`: 1 when every resolver answers
with our record, 0 when one answers without it, absent (unknown, not 0) when none can be asked
or none answers. It also reads the configuration `install` wires (`cluster_dns.target_of`, one
code path) and exports `globaldns_coredns_configured`; with `--keep-wired` it puts the wiring
back into that ConfigMap, from a fresh read on each 409. It never restarts pods: when CoreDNS
only sees the repair after a restart, it logs the command to run.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http import HTTPStatus
from pathlib import Path

from dnslib import QTYPE, RCODE
from prometheus_client.core import GaugeMetricFamily

from globaldns.config import Option, flag, host_port, host_port_text, seconds, setting
from globaldns.config.common import KUBECONFIG, LOCAL_CLUSTER, TTL, ZONE
from globaldns.dns.compile import WIRING_LABEL, wiring_text
from globaldns.install.ask import ask
from globaldns.install.cluster_dns import RESTART_HINT, dns_objects, target_of, update
from globaldns.install.corefile import CorefileError, fqdn
from globaldns.install.kube import Kube, KubeError, Obj, Ref
from globaldns.install.objects import SERVICE
from globaldns.install.options import DNS_LABEL
from globaldns.install.targets import COREDNS, WiringError, configmap_ref
from globaldns.install.wiring import AddressError, server_address
from globaldns.install.zones import WIRING_ZONES, across, refuse_served
from globaldns.sources.kubernetes.clients import (
    KubeconfigError,
    MakeClient,
    from_kubeconfig,
    in_cluster,
    load_kubeconfig,
)
from globaldns.sources.kubernetes.options import SERVICE_ACCOUNT_DIR, in_pod

log = logging.getLogger("globaldns.watchdog")

KEEP_WIRED = Option(
    "--keep-wired",
    flag,
    False,
    "put the CoreDNS blocks of --zone and --wiring-zones back if removed",
    switch=True,
)
WIRING_CHECK_INTERVAL = Option(
    "--wiring-check-interval",
    seconds,
    30.0,
    "seconds between checks that CoreDNS forwards the zone here (0: never check)",
)
WIRING_CHECK_ADDRESS = Option(
    "--wiring-check-address",
    host_port,
    None,
    "resolver the wiring check asks for the zone's reserved name (default: the pod's "
    "/etc/resolv.conf nameservers, the path pods use; outside a pod none, so unknown)",
    metavar="HOST:PORT",
)
WATCHDOG_OPTIONS = (WIRING_CHECK_INTERVAL, WIRING_CHECK_ADDRESS, WIRING_ZONES)
RESOLV_CONF = "/etc/resolv.conf"
MAX_NAMESERVERS = 3  # as many as the C library uses
ASK_TIMEOUT = 2.0


class Watchdog:
    """Checks one cluster's DNS wiring; `families()` is its part of `/metrics`."""

    def __init__(
        self,
        make_client: MakeClient,
        zone: str,
        ttl: int,
        interval: float,
        keep_wired: bool,
        identity: str = "",
        resolvers: tuple[tuple[str, int], ...] = (),
        service: Ref = SERVICE,
        also: tuple[str, ...] = (),
    ) -> None:
        self.make_client = make_client
        self.zone = zone
        self.also = tuple(z for z in dict.fromkeys(also) if fqdn(z) != fqdn(zone))
        self.ttl = max(ttl, 1)
        self.interval = interval
        self.keep_wired = keep_wired
        self.identity = identity
        self.resolvers = resolvers
        self.service = service  # whose ClusterIP the configuration must forward to
        self.configured: bool | None = None
        self.wired: bool | None = None
        self.checked = configmap_ref(COREDNS)
        self._problem = ""

    def families(self) -> Iterator[GaugeMetricFamily]:
        if self.configured is not None:
            gauge = GaugeMetricFamily(
                "globaldns_coredns_configured",
                f"1 when {self.checked} (how install wires this cluster) forwards the zone to "
                "this globaldns Service, else 0",
            )
            gauge.add_metric([], 1.0 if self.configured else 0.0)
            yield gauge
        if self.wired is not None:
            gauge = GaugeMetricFamily(
                "globaldns_coredns_wired",
                "1 when the zone's reserved name resolves to this globaldns through the "
                "resolvers pods use, 0 when it resolves elsewhere; absent while unknown",
            )
            gauge.add_metric([], 1.0 if self.wired else 0.0)
            yield gauge

    @property
    def zones(self) -> tuple[str, ...]:
        """Every zone the cluster's DNS should forward here: `--zone`, then `--wiring-zones`."""
        return (self.zone, *self.also)

    @property
    def zones_text(self) -> str:
        return ", ".join(fqdn(zone) for zone in self.zones)

    async def ask_path(self) -> bool | None:
        """Resolve each zone's reserved name through each resolver: True when all answer with
        our record, False when one answers without it, None when none could be asked."""
        results: list[bool] = []
        for zone in self.zones:
            results.extend(await self._ask_zone(zone))
        if not results:
            return None
        return all(results)

    async def _ask_zone(self, zone: str) -> list[bool]:
        """Whether each resolver that answered gave this zone's reserved name our record."""
        name = f"{WIRING_LABEL}.{zone}."
        expected = wiring_text(zone, self.identity)
        results: list[bool] = []
        for host, port in self.resolvers:
            reply = await ask(host, port, name, "TXT", ASK_TIMEOUT)
            if reply is None:
                continue
            texts = [str(rr.rdata).strip('"') for rr in reply.rr if rr.rtype == QTYPE.TXT]
            results.append(reply.header.rcode == 0 and texts == [expected])
            if not results[-1] and self.wired is not False:
                log.warning(
                    "%s through %s answered %s, not this globaldns: .%s names go elsewhere "
                    "(the public internet, if the forward is gone)",
                    name,
                    host_port_text(host, port),
                    texts or RCODE.get(reply.header.rcode),
                    zone,
                )
        return results

    async def run(self) -> None:
        """Check every `interval` seconds until cancelled; a failed check is logged, not fatal."""
        try:
            api = await self.make_client()
        except KubeconfigError as err:
            log.error("wiring watchdog not started: %s", err)
            return
        async with api:
            kube = Kube(api)
            while True:
                await self.check(kube)
                await asyncio.sleep(self.interval)

    async def check(self, kube: Kube) -> bool:
        """One look (and, with keep-wired, one repair); returns whether the configuration is
        in place. The end-to-end answer (`ask_path`) sets `wired`."""
        try:
            configured = await self._check(kube)
        except (KubeError, WiringError, CorefileError, AddressError) as err:
            self._report(f"cannot check the CoreDNS wiring: {err}")
            configured = False
        else:
            self._problem = ""
        if configured and self.configured is False:
            log.info("%s forwards %s to globaldns again", self.checked, self.zones_text)
        self.configured = configured
        wired = await self.ask_path()
        if wired and self.wired is False:
            log.info("%s resolve to globaldns again through the cluster's DNS", self.zones_text)
        self.wired = wired
        return configured

    async def _check(self, kube: Kube) -> bool:
        service = await kube.get(self.service)
        address = str(server_address(((service or {}).get("spec") or {}).get("clusterIP")))
        found = await dns_objects(kube)
        target = across(target_of(found, self.zone, self.ttl), self.also, self.ttl)
        self.checked = target.ref
        refuse_served(found, self.also)
        data = target.data(found[target.ref] or {})
        if target.wired(data, address) == data:
            return True
        if self.configured is not False:
            log.warning(
                "%s (%s) no longer forwards %s to globaldns at %s: their names go to the public "
                "internet%s",
                self.checked,
                target.via,
                self.zones_text,
                address,
                "; putting the wiring back"
                if self.keep_wired
                else " (run with --keep-wired or `globaldns install` to repair)",
            )
        if not self.keep_wired:
            return False

        def repaired(obj: Obj) -> Obj:
            return target.with_data(obj, target.wired(target.data(obj), address))

        try:
            _, after = await update(kube, target, repaired)
        except KubeError as err:
            if err.status != HTTPStatus.FORBIDDEN:
                raise
            raise WiringError(
                f"cannot put the wiring back into {self.checked}: the keep-wired Role names only "
                "the ConfigMap install wired, and this cluster is now wired through "
                f"{target.via}; run `globaldns install --keep-wired` again"
            ) from None
        log.info("put the %s wiring back into %s (%s)", self.zones_text, self.checked, target.via)
        if target.needs_restart(after):
            log.warning(
                "CoreDNS only sees the repaired %s after a restart, and the watchdog does not "
                "restart pods: run `%s`",
                self.checked,
                RESTART_HINT,
            )
        return True

    def _report(self, problem: str) -> None:
        if problem != self._problem:
            log.error("%s", problem)
        self._problem = problem


@dataclass(frozen=True, kw_only=True)
class WatchdogSettings:
    """What `serve`'s wiring watchdog reads: how often, through which resolver, whether it
    repairs, and which cluster and zone it checks."""

    keep_wired: bool = setting(KEEP_WIRED)
    interval: float = setting(WIRING_CHECK_INTERVAL)
    address: tuple[str, int] | None = setting(WIRING_CHECK_ADDRESS)
    kubeconfig: Path | None = setting(KUBECONFIG)
    local_cluster: str | None = setting(LOCAL_CLUSTER)
    zone: str = setting(ZONE)
    also: tuple[str, ...] = setting(WIRING_ZONES)
    ttl: int = setting(TTL)


def from_settings(settings: WatchdogSettings) -> Watchdog | None:
    """The watchdog for `serve`: its own cluster is the pod's, or the --local-cluster context.

    None when there is no cluster to check (a mesh file only, no local cluster, interval 0).
    """
    if not settings.interval:
        return None
    if settings.kubeconfig is not None:
        if not settings.local_cluster:
            return None
        document = load_kubeconfig(settings.kubeconfig)
        make_client = from_kubeconfig(document, settings.local_cluster)
    elif in_pod():
        make_client = in_cluster()
    else:
        return None
    address = settings.address
    resolvers = (address,) if address else (nameservers(RESOLV_CONF) if in_pod() else ())
    service = own_service(SERVICE_ACCOUNT_DIR / "namespace") if in_pod() else SERVICE
    return Watchdog(
        make_client,
        settings.zone,
        settings.ttl,
        settings.interval,
        settings.keep_wired,
        settings.local_cluster or "",
        resolvers,
        service,
        settings.also,
    )


def own_service(namespace_file: Path) -> Ref:
    """The globaldns Service in the pod's own namespace (an overlay may have moved it)."""
    try:
        namespace = namespace_file.read_text(encoding="utf-8", errors="replace")[:253].strip()
    except OSError:
        return SERVICE
    return replace(SERVICE, namespace=namespace) if DNS_LABEL.fullmatch(namespace) else SERVICE


def nameservers(path: str) -> tuple[tuple[str, int], ...]:
    """The first nameservers of a resolv.conf (what the pod's own lookups use), port 53."""
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            text = lines.read(64 << 10)
    except OSError:
        return ()
    found: list[tuple[str, int]] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                found.append((str(ipaddress.ip_address(words[1].split("%")[0])), 53))
            except ValueError:
                continue
    return tuple(found[:MAX_NAMESERVERS])
