"""The wiring watchdog: is this cluster's DNS still forwarding the zone to us?

Platforms revert DNS ConfigMaps (addon managers, managed upgrades), and a lost block silently
sends `.global` queries to the public `global` TLD. So every interval the server re-reads its
own cluster's `kube-system` DNS ConfigMaps, picks the one `install` wires (the Corefile, AKS's
`coredns-custom` or kube-dns `stubDomains`: `installer.target_of`, one code path), exports
`globaldns_coredns_wired` (1 wired, 0 not; absent until the first check), logs when the wiring
goes or comes back, and with `--keep-wired` puts it back into that ConfigMap, from a fresh read
on each 409. It never restarts pods: when CoreDNS only sees the repair after a restart, it logs
the command to run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from globaldns.config import Option, seconds
from globaldns.install.corefile import CorefileError
from globaldns.install.installer import (
    RESTART_HINT,
    SERVICE,
    dns_objects,
    target_of,
    update,
)
from globaldns.install.kube import Kube, KubeError, Obj
from globaldns.install.targets import COREDNS, WiringError, configmap_ref
from globaldns.install.wiring import AddressError, server_address
from globaldns.sources.kubernetes.clients import (
    KubeconfigError,
    MakeClient,
    from_kubeconfig,
    in_cluster,
    load_kubeconfig,
)
from globaldns.sources.kubernetes.options import in_pod

log = logging.getLogger("globaldns.watchdog")

WATCHDOG_OPTIONS = (
    Option(
        "--wiring-check-interval",
        seconds,
        30.0,
        "seconds between checks that CoreDNS forwards the zone here (0: never check)",
    ),
)


class Watchdog:
    """Checks one cluster's DNS wiring; `families()` is its part of `/metrics`."""

    def __init__(
        self, make_client: MakeClient, zone: str, ttl: int, interval: float, keep_wired: bool
    ) -> None:
        self.make_client = make_client
        self.zone = zone
        self.ttl = max(ttl, 1)
        self.interval = interval
        self.keep_wired = keep_wired
        self.wired: bool | None = None
        self.checked = configmap_ref(COREDNS)
        self._problem = ""

    def families(self) -> Iterator[GaugeMetricFamily]:
        if self.wired is None:
            return
        gauge = GaugeMetricFamily(
            "globaldns_coredns_wired",
            f"1 when {self.checked.namespace}/{self.checked.name} forwards the zone to this "
            "globaldns Service, else 0",
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
        """One look (and, with keep-wired, one repair); returns whether the wiring is in place."""
        try:
            wired = await self._check(kube)
        except (KubeError, WiringError, CorefileError, AddressError) as err:
            self._report(f"cannot check the CoreDNS wiring: {err}")
            wired = False
        else:
            self._problem = ""
        if wired and self.wired is False:
            log.info("%s forwards %s. to globaldns again", self.checked, self.zone)
        self.wired = wired
        return wired

    async def _check(self, kube: Kube) -> bool:
        service = await kube.get(SERVICE)
        address = str(server_address(((service or {}).get("spec") or {}).get("clusterIP")))
        found = await dns_objects(kube)
        target = target_of(found, self.zone, self.ttl)
        self.checked = target.ref
        data = target.data(found[target.ref] or {})
        if target.wired(data, address) == data:
            return True
        if self.wired is not False:
            log.warning(
                "%s (%s) no longer forwards %s. to globaldns at %s: .%s names go to the public "
                "internet%s",
                self.checked,
                target.via,
                self.zone,
                address,
                self.zone,
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
        log.info("put the %s. wiring back into %s (%s)", self.zone, self.checked, target.via)
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
