"""The wiring watchdog: is this cluster's CoreDNS still forwarding the zone to us?

Platforms revert `kube-system/coredns` (addon managers, managed upgrades), and a lost block
silently sends `.global` queries to the public `global` TLD. So the server re-reads its own
cluster's Corefile every interval, exports `globaldns_coredns_wired` (1 wired, 0 not; absent
until the first check), logs when the block goes or comes back, and with `--keep-wired` puts it
back, from a fresh read on each 409.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from globaldns.config import Option, seconds
from globaldns.install.corefile import CorefileError
from globaldns.install.installer import CONFLICT_RETRIES, SERVICE
from globaldns.install.kube import Conflict, Kube, KubeError, Ref
from globaldns.install.targets import COREDNS, COREFILE, KUBE_SYSTEM
from globaldns.install.wiring import AddressError, server_address, wire
from globaldns.sources.kubernetes.clients import (
    KubeconfigError,
    MakeClient,
    from_kubeconfig,
    in_cluster,
    load_kubeconfig,
)
from globaldns.sources.kubernetes.options import in_pod

log = logging.getLogger("globaldns.watchdog")

COREDNS_CONFIGMAP = Ref("v1", "ConfigMap", KUBE_SYSTEM, COREDNS)
WATCHDOG_OPTIONS = (
    Option(
        "--wiring-check-interval",
        seconds,
        30.0,
        "seconds between checks that CoreDNS forwards the zone here (0: never check)",
    ),
)


class Watchdog:
    """Checks one cluster's Corefile; `families()` is its part of `/metrics`."""

    def __init__(
        self, make_client: MakeClient, zone: str, ttl: int, interval: float, keep_wired: bool
    ) -> None:
        self.make_client = make_client
        self.zone = zone
        self.ttl = max(ttl, 1)
        self.interval = interval
        self.keep_wired = keep_wired
        self.wired: bool | None = None
        self._problem = ""

    def families(self) -> Iterator[GaugeMetricFamily]:
        if self.wired is None:
            return
        gauge = GaugeMetricFamily(
            "globaldns_coredns_wired",
            "1 when kube-system/coredns forwards the zone to this globaldns Service, else 0",
        )
        gauge.add_metric([], 1.0 if self.wired else 0.0)
        yield gauge

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
        """One look (and, with keep-wired, one repair); returns whether the block is in place."""
        try:
            wired = await self._check(kube)
        except (KubeError, CorefileError, AddressError) as err:
            self._report(f"cannot check the CoreDNS wiring: {err}")
            wired = False
        else:
            self._problem = ""
        if wired and self.wired is False:
            log.info("%s forwards %s. to globaldns again", COREDNS_CONFIGMAP, self.zone)
        self.wired = wired
        return wired

    async def _check(self, kube: Kube) -> bool:
        service = await kube.get(SERVICE)
        address = str(server_address(((service or {}).get("spec") or {}).get("clusterIP")))
        for _ in range(CONFLICT_RETRIES):
            configmap = await kube.get(COREDNS_CONFIGMAP)
            if configmap is None:
                raise KubeError(f"{COREDNS_CONFIGMAP} does not exist")
            corefile = (configmap.get("data") or {}).get(COREFILE, "")
            wired = wire(corefile, address, self.zone, self.ttl)
            if wired == corefile:
                return True
            if self.wired is not False:
                log.warning(
                    "%s no longer forwards %s. to globaldns at %s: .%s names go to the public "
                    "internet%s",
                    COREDNS_CONFIGMAP,
                    self.zone,
                    address,
                    self.zone,
                    "; putting the block back"
                    if self.keep_wired
                    else " (run with --keep-wired or `globaldns install` to repair)",
                )
            if not self.keep_wired:
                return False
            repaired = {**configmap, "data": {**configmap.get("data", {}), COREFILE: wired}}
            try:
                await kube.replace(repaired)
            except Conflict:
                continue
            log.info("put the %s. block back into %s", self.zone, COREDNS_CONFIGMAP)
            return True
        raise KubeError(f"{COREDNS_CONFIGMAP} kept changing ({CONFLICT_RETRIES} conflicts)")

    def _report(self, problem: str) -> None:
        if problem != self._problem:
            log.error("%s", problem)
        self._problem = problem


def from_settings(settings: dict[str, Any]) -> Watchdog | None:
    """The watchdog for `serve`: its own cluster is the pod's, or the --local-cluster context.

    None when there is no cluster to check (a mesh file only, no local cluster, interval 0).
    """
    interval = settings["wiring_check_interval"]
    if not interval:
        return None
    if settings["kubeconfig"] is not None:
        if not settings["local_cluster"]:
            return None
        document = load_kubeconfig(settings["kubeconfig"])
        make_client = from_kubeconfig(document, settings["local_cluster"])
    elif in_pod():
        make_client = in_cluster()
    else:
        return None
    return Watchdog(
        make_client, settings["zone"], settings["ttl"], interval, settings["keep_wired"]
    )
