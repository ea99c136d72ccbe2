"""What the sources exported to the clusterset, one home per fact, and how exports of one
service by several clusters combine (KEP-1645's conflict resolution: the oldest export wins).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from globaldns.table.model import Export, Port, ServiceKind


@dataclass(frozen=True, slots=True)
class Combined:
    """One service as the clusterset has it: the kind and ports of the oldest export, the
    clusters whose exports agree on the kind (`used`), and each conflict explained."""

    kind: ServiceKind
    ports: tuple[Port, ...]
    used: dict[str, Export]
    conflicts: tuple[str, ...]


class Exports:
    """Exports by (cluster, key), by service and by the `global.` host they share; and the
    local cluster's namespaces (None: not known, every namespace counts as local)."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], Export] = {}
        self.by_service: dict[str, dict[str, Export]] = {}  # service -> cluster -> export
        self.by_host: dict[str, set[str]] = defaultdict(set)  # global host -> services
        self.namespaces: frozenset[str] | None = None

    def put(self, cluster: str, key: str, export: Export | None) -> set[str]:
        """Store or forget one cluster's export; the services whose names may change."""
        touched: set[str] = set()
        old = self.by_key.pop((cluster, key), None)
        if old is not None:
            touched.add(old.service)
            held = self.by_service.get(old.service, {})
            if held.get(cluster) == old:
                del held[cluster]
                if not held:
                    del self.by_service[old.service]
            self._unhost(old)
        if export is not None:
            self.by_key[(cluster, key)] = export
            self.by_service.setdefault(export.service, {})[cluster] = export
            self.by_host[export.host.lower().strip(".")].add(export.service)
            touched.add(export.service)
        return touched

    def _unhost(self, old: Export) -> None:
        host = old.host.lower().strip(".")
        held = self.by_service.get(old.service, {}).values()
        if not any(e.host.lower().strip(".") == host for e in held):
            services = self.by_host.get(host, set())
            services.discard(old.service)
            if not services:
                self.by_host.pop(host, None)

    def keys_in(self, cluster: str) -> list[str]:
        return [key for where, key in self.by_key if where == cluster]

    def set_namespaces(self, namespaces: frozenset[str] | None) -> set[str]:
        """The local cluster's namespaces; the services whose namespace came or went."""
        before, self.namespaces = self.namespaces, namespaces
        return {s for s in self.by_service if _local(s, before) != _local(s, namespaces)}

    def is_local(self, service: str) -> bool:
        """Whether the service's namespace exists in the local cluster (SPEC §7 rule 6)."""
        return _local(service, self.namespaces)

    def combined(self, service: str) -> Combined | None:
        """The service as the clusterset has it, or None when no cluster exports it."""
        held = self.by_service.get(service)
        if not held:
            return None
        order = sorted(held.items(), key=lambda item: (item[1].since, item[0]))
        first, oldest = order[0]
        used = {cluster: e for cluster, e in order if e.kind == oldest.kind}
        conflicts = []
        for cluster, export in order[1:]:
            if export.kind != oldest.kind:
                conflicts.append(
                    f"{cluster} exports it {export.kind}, the older export of {first} "
                    f"{oldest.kind}: {cluster} is left out"
                )
            elif set(export.ports) != set(oldest.ports):
                conflicts.append(
                    f"{cluster} exports other ports than the older export of {first}: "
                    f"{first}'s win where they differ"
                )
        ports = _union(e.ports for e in used.values())
        return Combined(oldest.kind, ports, used, tuple(conflicts))


def _union(port_lists: Iterable[tuple[Port, ...]]) -> tuple[Port, ...]:
    """Every port of the exports, oldest first; a later port of a name (or, unnamed, of a
    number and protocol) that an older export already defines is dropped."""
    seen: dict[tuple[str, int, str], Port] = {}
    for ports in port_lists:
        for port in ports:
            key = (port.name, 0, "") if port.name else ("", port.port, port.protocol.upper())
            seen.setdefault(key, port)
    return tuple(seen.values())


def _local(service: str, namespaces: frozenset[str] | None) -> bool:
    return namespaces is None or service.rpartition(".")[2] in namespaces
