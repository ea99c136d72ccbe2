"""What one name resolves to, worked out from the index: the answers compile from it, and
`/table` and `globaldns table` show it (the stored view is the one the answers came from)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

from globaldns.dns.compile import Tier
from globaldns.table.claims import PINNED, Claim, ClaimKind, Unserved
from globaldns.table.imported import resolve_import
from globaldns.table.index import Index, entry_skip, entry_vips, unique_ports
from globaldns.table.model import Instance, Port
from globaldns.table.policy import Contribution, PolicyTier, Resolution, Scope, Why, resolve

# What the answers of each policy tier count as on the wire (the answers-by-tier metric).
_ANSWERED = {
    PolicyTier.LOCAL: Tier.LOCAL,
    PolicyTier.REMOTE: Tier.REMOTE,
    PolicyTier.FAILOPEN: Tier.FAILOPEN,
    PolicyTier.VIP: Tier.ENTRY,  # addresses as given, like a ServiceEntry's
}


@dataclass(frozen=True, slots=True)
class NameView:
    """One resolved name, as `globaldns table`, `/table` and the zone-file export show it."""

    name: str
    kind: ClaimKind
    tier: Tier
    clusters: tuple[str, ...]
    ports: tuple[Port, ...]
    why: Why  # `reason`, perhaps not worded yet
    groups: tuple[tuple[str, ...], ...]  # its addresses, in groups of equal preference
    contributions: tuple[Contribution, ...] = ()
    zone: str = ""  # the zone it is in, when not the table's (`clusterset.local`)

    @property
    def reason(self) -> str:
        return str(self.why)

    @property
    def addresses(self) -> tuple[str, ...]:
        """Worked out when shown, not on every compile (a name may answer 200 gateways)."""
        return tuple(chain.from_iterable(self.groups))

    @property
    def answer_tier(self) -> Tier:
        """What its answers count as: the policy's tier for a service, else pinned or entry."""
        if self.kind in (ClaimKind.SERVICE, ClaimKind.IMPORT):
            return self.tier
        return Tier.ENTRY if self.kind == ClaimKind.ENTRY else Tier.PINNED


def view_of(
    index: Index, default: tuple[str, ...], name: str, claim: Claim, explain: bool = False
) -> NameView | None:
    """The name as its winning claim resolves it (None: nothing answers it); `default` is
    what a ServiceEntry without addresses answers (--default-address)."""
    if claim.kind == ClaimKind.ENTRY:
        return _entry_view(index, default, name)
    if claim.kind == ClaimKind.IMPORT:
        mine = index.merged.get(claim.host, {}).get(index.local or "")
        imports = index.imports.get(claim.host, {})
        resolution = resolve_import(mine, imports, index.local, explain)
        if resolution is None:
            return None
        ports = unique_ports(p for e in (mine, *imports.values()) if e is not None for p in e.ports)
        return service_view(name, claim.kind, resolution, ports)
    instances, scope = _narrowed(index, claim)
    # A pinned name's instances are narrowed: its unready clusters are worked out from them.
    unready = index.unready.get(claim.host, _NONE) if scope is None else None
    resolution = resolve(instances, index.sites, index.local, scope, explain, unready)
    if resolution is None:
        return None
    ports = index.host_ports(claim.host) if scope is None else index.ports_of(instances)
    return service_view(name, claim.kind, resolution, ports)


_NONE: frozenset[str] = frozenset()


def _entry_view(index: Index, default: tuple[str, ...], name: str) -> NameView:
    """In (cluster, key) order, so the first port of a name never depends on arrival."""
    held = index.entries_of(name)
    entries = [e for _, e in held if entry_skip(e, default) is None]
    addresses = tuple(sorted({a for e in entries for a in entry_vips(e, default)}))
    ports = unique_ports(p for e in entries for p in e.ports)
    origin = sorted({c for (c, _), e in held if e in entries})
    return NameView(
        name,
        ClaimKind.ENTRY,
        Tier.ENTRY,
        tuple(origin),
        ports,
        "ServiceEntry addresses",
        (addresses,),
    )


def _narrowed(index: Index, claim: Claim) -> tuple[dict[str, Instance], Scope | None]:
    """The instances a service claim answers from, and what a pinned one is narrowed to (a
    pinned name answers for its cluster or region only, with the ports those name)."""
    merged = index.merged.get(claim.host, {})
    if claim.kind == ClaimKind.CLUSTER_PIN:
        instances = {claim.scope: merged[claim.scope]} if claim.scope in merged else {}
        return instances, Scope("cluster", claim.scope)
    if claim.kind == ClaimKind.REGION_PIN:
        region = index.regions.get(claim.scope, set())
        return {c: i for c, i in merged.items() if c in region}, Scope("region", claim.scope)
    return merged, None


def service_view(
    name: str, kind: ClaimKind, resolution: Resolution, ports: tuple[Port, ...]
) -> NameView:
    return NameView(
        name=name,
        kind=kind,
        tier=_ANSWERED[resolution.tier],
        clusters=resolution.clusters,
        ports=ports,
        why=resolution.why,
        groups=resolution.groups,
        contributions=resolution.contributions,
    )


def unserved_view(name: str, unserved: Unserved) -> NameView:
    """A name DNS cannot carry, explained: it answers NXDOMAIN."""
    claim = unserved.claim
    scope = (claim.scope,) if claim.kind in PINNED else ()
    return NameView(name, claim.kind, Tier.NXDOMAIN, scope, (), f"not served: {unserved.why}", ())


def same_answers(a: NameView, b: NameView) -> bool:
    """Whether two views compile to the same answers (their explanations may differ)."""
    return (a.groups, a.ports, a.answer_tier) == (b.groups, b.ports, b.answer_tier)
