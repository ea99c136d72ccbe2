"""Why a name exists, and which reason wins when several spell the same name.

Claims are totally ordered, strongest first, so a conflict always has one winner and that winner
never depends on the order the changes arrived in:

1. the kind: a ServiceEntry host, then a service's own name, then an imported service's name,
   then a name pinned to a cluster, then a name pinned to a region (`ClaimKind`, smallest
   value strongest). A host both a watched Service and an import name is claimed one way
   (`service_kind`): as a service where a remote watched cluster runs it (the N x N feed
   knows its gateways and their health), else as an import, whose tiers start with the
   local cluster's Service (`imported.py`);
2. between claims of one kind, the service whose name sorts first (plain string order), then the
   cluster or region name that sorts first. So `a-b-c.global`, claimed by service `a` pinned to
   cluster `b-c` and by service `a-b` pinned to cluster `c`, answers service `a` in `b-c`.

`Claims` keeps the claims on each name of one zone: its naming scheme (`scheme.py`) says which
names the index's hosts, clusters, regions and entries make, and a name DNS cannot carry is
never held but kept, with why, in `unserved`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from globaldns.dns.wire import ENTRY_SKIPS, Unfit, unfit
from globaldns.dns.zone import ZoneConfig
from globaldns.table.index import Index, entry_skip
from globaldns.table.model import is_remote
from globaldns.table.scheme import NamingScheme

log = logging.getLogger(__name__)


class ClaimKind(IntEnum):
    """The kinds of claim, strongest first."""

    ENTRY = 0
    SERVICE = 1
    IMPORT = 2  # a service only the imports feed (and at most the local cluster) names
    CLUSTER_PIN = 3
    REGION_PIN = 4

    @property
    def label(self) -> str:
        """How `/table` and `globaldns table` name it: entry, service, cluster-pinned, ..."""
        return _LABELS[self]


_LABELS = {
    ClaimKind.ENTRY: "entry",
    ClaimKind.SERVICE: "service",
    ClaimKind.IMPORT: "import",
    ClaimKind.CLUSTER_PIN: "cluster-pinned",
    ClaimKind.REGION_PIN: "region-pinned",
}


@dataclass(frozen=True, slots=True, order=True)
class Claim:
    """`host` narrowed to `scope` (a cluster or a region) for pinned names; ordered as above."""

    kind: ClaimKind
    host: str
    scope: str = ""


Named = tuple[str, Claim]  # a name (relative to the zone) and why it exists


# Names many (one per cluster and region a service runs in) and rarely asked for: compiled on
# their first query, while the service's own name is what clients ask.
PINNED = (ClaimKind.CLUSTER_PIN, ClaimKind.REGION_PIN)


@dataclass(frozen=True, slots=True)
class Unserved:
    """A name a claim would make that cannot be a DNS name: never compiled, explained."""

    claim: Claim
    reason: Unfit
    why: str


class Claims:
    """The claims on each name of one zone, as its naming scheme makes them from the index.

    `reclaim_host` and `reclaim_entry` bring a host's claims in line with the index and say
    which names may answer otherwise; the winner of a name is its first claim (`winner`). A
    claim on a name DNS cannot carry is never held (`unserved`: logged and counted once).
    """

    def __init__(
        self, config: ZoneConfig, index: Index, scheme: NamingScheme, on_new: Callable[[], None]
    ) -> None:
        self.config = config
        self.index = index
        self.scheme = scheme
        self.on_new = on_new  # a name nobody held is claimed (the memo may say NXDOMAIN)
        self.by_name: dict[str, tuple[Claim, ...]] = {}  # name -> claims, sorted (mostly one)
        # host -> its claims -> the name each makes (a claim makes one name; a set of (name,
        # claim) pairs cost a tuple per pinned name, 10 MiB more at 200 x 1,000)
        self._of_host: dict[str, dict[Claim, str]] = defaultdict(dict)
        self._conflicts_logged: set[str] = set()
        self.conflicts = 0  # names ever claimed more than one way
        self.unserved: dict[str, Unserved] = {}  # names that cannot be DNS names, and why
        self.skipped = [0] * len(Unfit)  # those names, counted once each, by reason

    def winner(self, name: str) -> Claim | None:
        """The claim a name answers for (`min` of its claims), counting a conflict once."""
        claims = self.by_name.get(name)
        if not claims:
            return None
        if len(claims) > 1:
            self._conflict(name, claims, claims[0])
        return claims[0]

    def _pins(self, host: str, cluster: str) -> list[Named]:
        """The pinned names `host` claims through one cluster: that cluster's, its region's.

        One that cannot exist in DNS (its first label over 63 bytes, say) is never held
        (`_hold`): `host` itself still answers.
        """
        pins = []
        name = self.scheme.cluster_pin(host, cluster)
        if name is not None:
            pins.append((name, Claim(ClaimKind.CLUSTER_PIN, host, cluster)))
        region = self.index.region(cluster)
        name = self.scheme.region_pin(host, region) if region else None
        if region and name is not None:
            pins.append((name, Claim(ClaimKind.REGION_PIN, host, region)))
        return pins

    def reclaim_host(self, host: str, touched: set[str] | None) -> set[str]:
        """Update the names `host` claims; return the names whose answers may have changed."""
        by_cluster = self.index.instances.get(host)
        had = self._of_host[host]
        service = self.scheme.service(host)
        imported = host in self.index.imports
        if touched is not None and by_cluster and had and not imported:
            # No cluster left and no region moved: the claims stand, but a touched cluster may
            # be new to the host. Only its pinned names are added, so a first sync costs the
            # same per cluster however many clusters already run the host.
            pins = {self.scheme.cluster_pin(host, cluster) for cluster in touched}
            changed = {name for name in (service, *pins) if name is not None}
            for cluster in touched & by_cluster.keys():
                for name, claim in self._pins(host, cluster):
                    changed.add(name)
                    if claim not in had:
                        had[claim] = name
                        self._hold(name, claim, True)
            return changed
        wanted: dict[Claim, str] = {}
        if (by_cluster or imported) and service is not None:
            wanted[Claim(self.service_kind(host), host)] = service
        for cluster in by_cluster or ():
            wanted.update((claim, name) for name, claim in self._pins(host, cluster))
        gone, new = had.keys() - wanted.keys(), wanted.keys() - had.keys()
        changed = {had[claim] for claim in gone} | {wanted[claim] for claim in new}
        for claim in gone:
            self._hold(had[claim], claim, False)
        for claim in new:
            self._hold(wanted[claim], claim, True)
        if wanted:
            self._of_host[host] = wanted
        else:
            del self._of_host[host]
        if touched is None:
            return changed | set(wanted.values())
        regions = {self.index.region(c) for c in touched}
        return changed | {
            name
            for claim, name in wanted.items()
            if claim.kind in (ClaimKind.SERVICE, ClaimKind.IMPORT)
            or (claim.kind == ClaimKind.CLUSTER_PIN and claim.scope in touched)
            or (claim.kind == ClaimKind.REGION_PIN and claim.scope in regions)
        }

    def service_kind(self, host: str) -> ClaimKind:
        """How a host's own name is claimed: as an import when the imports feed names it and
        no remote watched cluster runs it, else as a service (as without imports)."""
        if host not in self.index.imports:
            return ClaimKind.SERVICE
        local = self.index.local
        runs = self.index.instances.get(host, {})
        if any(is_remote(cluster, local) for cluster in runs):
            return ClaimKind.SERVICE
        return ClaimKind.IMPORT

    def reclaim_entry(self, host: str) -> set[str]:
        """Held while a named entry lists the host; else, when skipped ones do, the first (by
        cluster and key) is what `table NAME` explains."""
        name = self.scheme.entry(host)
        if name is None:
            return set()
        if host.endswith("."):
            self._reclaim_outside(host)
            return set()
        claim = Claim(ClaimKind.ENTRY, host)
        default = self.config.default_addresses
        held = self.index.entries_of(host)
        served = any(entry_skip(e, default) is None for _, e in held)
        self._hold(name, claim, served)
        reason, why = None, ""
        if held and not served:
            (cluster, key), first = held[0]
            reason = entry_skip(first, default)
            if reason is not None:  # always, as none is named
                why = f"ServiceEntry {first.name or key} from {cluster} {_ENTRY_WHYS[reason]}"
        gone = self.unserved.get(name)
        if gone is not None and gone.reason in ENTRY_SKIPS and gone.why != why:
            del self.unserved[name]
        if reason is not None:
            self._unserved(name, claim, reason, why)
        return {name}

    def _reclaim_outside(self, host: str) -> None:
        """A host outside the zone (absolute: `legacy.example.com.`) names nothing, as
        istiocoredns; while an entry lists it, `table NAME` says which and why."""
        held = self.index.entries_of(host)
        why = ""
        if held:
            (cluster, key), first = held[0]
            zone = self.config.zone
            why = f"ServiceEntry {first.name or key} from {cluster} lists it, outside the zone "
            why += f"{zone} (only hosts ending in .{zone} are answered here, as by istiocoredns)"
        gone = self.unserved.get(host)
        if gone is not None and gone.why != why:
            del self.unserved[host]
        if held:
            self._unserved(host, Claim(ClaimKind.ENTRY, host), Unfit.OUTSIDE_ZONE, why)

    def _hold(self, name: str, claim: Claim, held: bool) -> None:
        """Add or drop one claim on a name; a tuple, as a name rarely has more than one."""
        claims = self.by_name.get(name, ())
        if held and claim not in claims:
            problem = unfit(f"{name}.{self.config.zone}")
            if problem is not None:
                self._unserved(name, claim, *problem)
                return
            if not claims:
                self.on_new()
            self.by_name[name] = tuple(sorted((*claims, claim)))
        elif not held and claim in claims:
            rest = tuple(c for c in claims if c != claim)
            if rest:
                self.by_name[name] = rest
            else:
                del self.by_name[name]

    def _unserved(self, name: str, claim: Claim, reason: Unfit, why: str) -> None:
        """A claim on a name DNS cannot carry: never held or compiled; logged and counted once
        per name, and kept for `table NAME` to explain."""
        if name in self.unserved:
            return
        self.unserved[name] = Unserved(claim, reason, why)
        self.skipped[reason] += 1
        log.warning(
            "%s (%s) is not served: %s",
            absolute(name, self.config.zone).rstrip("."),
            describe(claim),
            why,
            extra={"service": claim.host, "scope": claim.scope, "reason": reason.label},
        )

    def _conflict(self, name: str, claims: tuple[Claim, ...], winner: Claim) -> None:
        """Counted and logged once per name; the winner is `min(claims)`."""
        if name in self._conflicts_logged:
            return
        self._conflicts_logged.add(name)
        self.conflicts += 1
        losers = ", ".join(describe(claim) for claim in sorted(claims) if claim != winner)
        log.warning(
            "name %s.%s is claimed %d ways; %s wins over %s",
            name,
            self.config.zone,
            len(claims),
            describe(winner),
            losers,
            extra={"fqdn": f"{name}.{self.config.zone}."},
        )


def absolute(name: str, zone: str) -> str:
    """A claimed or unserved name as an absolute one: relative names are in the zone; a
    ServiceEntry host outside it is kept absolute already (`legacy.example.com.`)."""
    return name if name.endswith(".") else f"{name}.{zone}."


def describe(claim: Claim) -> str:
    """A claim in a message: `foo cluster-pinned to b`, `service foo`."""
    if claim.kind in PINNED:
        return f"{claim.host} {claim.kind.label} to {claim.scope}"
    return f"{claim.kind.label} {claim.host}"


_ENTRY_WHYS = {
    Unfit.RESOLUTION_NONE: "has resolution NONE (its sidecar forwards to the address dialled; "
    "istiocoredns named none)",
    Unfit.NO_ADDRESS: "has no addresses and no --default-address is set",
    Unfit.WIDE_CIDR: "has only CIDR addresses wider than one address (no single VIP)",
}
