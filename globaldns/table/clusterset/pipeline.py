"""The `clusterset.local` zone compiled from the index and the exports, in the same budgeted
turns as `global.` (`table.pipeline.Pipeline`: the commit loop, the swap, the serial).

A name here is compiled per exported service, not per claim: an export, or a change to what the
index says of the `global.` host the service shares (its clusters' gateways and their health,
regions), marks the service dirty, and the commit recompiles all its names together. Where a
name answers from is the service's `names.service_owners`; nothing is compiled on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from globaldns.dns.zone import ZoneConfig
from globaldns.table.clusterset.exports import Exports
from globaldns.table.clusterset.names import Owner, service_owners
from globaldns.table.clusterset.nodes import VERSION_LABEL, owner_nodes, version_node
from globaldns.table.index import Index
from globaldns.table.pipeline import Pipeline
from globaldns.table.scheme import ClustersetScheme
from globaldns.table.views import NameView

log = logging.getLogger(__name__)


class ClustersetPipeline(Pipeline):
    """The compiled `zone` of the clusterset; `conflicts` counts services ever exported in
    conflicting ways (logged once each)."""

    def __init__(self, config: ZoneConfig, index: Index, exports: Exports) -> None:
        super().__init__(config, index, ClustersetScheme())
        self.exports = exports
        self._owners: dict[str, tuple[Owner, ...]] = {}  # service -> its names as compiled
        self._service_of: dict[str, str] = {}  # name -> its service
        self._dirty_services: set[str] = set()
        self._conflicted: set[str] = set()
        self.conflicts = 0
        compiler = self.zone.compiler
        self.zone.put(compiler.owner(VERSION_LABEL), version_node(compiler))

    def touch(self, host: str, cluster: str | None) -> None:
        """What the index says of a host changed: the services exported under it."""
        self._dirty_services |= self.exports.by_host.get(host, set())

    def touch_services(self, services: set[str]) -> None:
        self._dirty_services |= services

    def commit(self, budget: float | None = None) -> bool:
        self._dirty_names |= self._dirty_services
        self._dirty_services = set()
        return super().commit(budget)

    def _compile(self, name: str, defer: bool = True) -> None:
        """All names of one service (`name`), swapped in whole."""
        owners = self._owners_of(name)
        if owners == self._owners.get(name, ()):
            return
        for old in self._owners.pop(name, ()):
            self._service_of.pop(old.name, None)
        self._swap(name, owner_nodes(self.zone.compiler, owners))
        if owners:
            self._owners[name] = owners
            self._service_of.update((owner.name, name) for owner in owners)

    def _owners_of(self, service: str, explain: bool = False) -> tuple[Owner, ...]:
        combined = self.exports.combined(service) if self.exports.is_local(service) else None
        if combined is None:
            return ()
        if combined.conflicts and service not in self._conflicted:
            self._conflicted.add(service)
            self.conflicts += 1
            log.warning(
                "%s.svc.%s is exported in conflicting ways: %s",
                service,
                self.config.zone,
                "; ".join(combined.conflicts),
                extra={"service": service},
            )
        return service_owners(service, combined, self.index, self.config.zone, explain)

    # -- reading ----------------------------------------------------------------------------
    def owners(self) -> Iterator[Owner]:
        """Every name held, by service, as compiled."""
        for service in sorted(self._owners):
            yield from self._owners[service]

    def names(self) -> list[str]:
        """Every name held (SRV names among them: they have no view of their own)."""
        return list(self._service_of)

    def views(self) -> Iterator[NameView]:
        for name in sorted(self._service_of):
            view = self.view(name)
            if view is not None:
                yield view

    def view(self, name: str) -> NameView | None:
        service = self._service_of.get(name)
        if service is None:
            return None
        return next((o.view for o in self._owners[service] if o.name == name), None)

    def lookup(self, name: str) -> NameView | None:
        """One name explained: any case, with or without the zone; an SRV name finds the
        service's own name."""
        wanted = name.lower().rstrip(".")
        zone = self.config.zone.lower()
        if wanted.endswith("." + zone):
            wanted = wanted[: -len(zone) - 1]
        service = self._service_of.get(wanted)
        if service is None:
            return None
        owners = self._owners_of(service, explain=True)
        target = wanted if self.view(wanted) is not None else f"{service}.svc"
        return next((o.view for o in owners if o.name == target), self.view(wanted))
