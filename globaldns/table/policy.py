"""The local-first policy: which addresses answer a name, in which groups of equal preference.

1. local: the local cluster has the service with a ready endpoint -> its own addresses;
2. remote: else every remote cluster with a ready endpoint and an up gateway address -> its up
   gateway addresses, clusters of the local cluster's region first, then the rest; when no
   ready cluster has an up gateway, all their gateways as if up (fail open on health);
3. fail open: nobody ready -> the local cluster's addresses as if ready, else the remote rule
   over every cluster as if ready (up gateways still preferred), so a name is never blank.

Gateways are judged up or down in `sites.py`. The local tier is never judged by health, nor is
a name pinned to one cluster (it answers that cluster, up or down).

Each cluster of the name gets a `Contribution` (what it had, whether it was used, and why) for
`globaldns table NAME` and `/table?name=`. A health change recompiles every name of a cluster,
so the per-cluster work is done once in `sites.site()` and `resolve` only combines. Under churn
a flip of one cluster recompiles a name every cluster runs: its remote tier is then set
operations over the clusters the index holds unready for the host (`Index.unready`) and those
whose gateways are all up (`Sites.healthy`, worked out once per health change), in the name
order those keep; its reason is worded when read (`RemoteReason`).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import IntEnum
from itertools import chain
from typing import NamedTuple

from globaldns.table.model import Instance, is_remote
from globaldns.table.sites import Gateway, Healthy, Site, Sites

NOT_NEEDED = "not needed: the local cluster answers"
UNREADY = "0 ready endpoints"
NO_GATEWAY = "no gateway address"


class PolicyTier(IntEnum):
    """Which rule answered a name (the numbered rules above)."""

    LOCAL = 0
    REMOTE = 1
    FAILOPEN = 2
    VIP = 3  # an imported service's ServiceImport spec.ips (`imported.py`), as they are


class Contribution(NamedTuple):
    """What one cluster offered a name, and what the policy made of it."""

    cluster: str
    ready: int
    gateways: tuple[Gateway, ...]
    used: bool
    why: str


@dataclass(frozen=True, slots=True)
class RemoteReason:
    """Why the one-pass remote tier answers what it does, worded when read: it names every
    cluster, and is made on each flip of any one of them, nearly always unread."""

    lead: str
    clusters: tuple[str, ...]  # those answering, in order
    near: int  # how many of them are in `region`
    region: str | None
    unready: tuple[str, ...]  # the clusters skipped, in no order

    def __str__(self) -> str:
        reason = f"{self.lead}gateways of {', '.join(self.clusters)}"
        if 0 < self.near < len(self.clusters):
            reason += f" (region {self.region} first)"
        skipped = sorted(self.unready)
        if skipped:
            reason += f"; {f' skipped: {UNREADY}; '.join(skipped)} skipped: {UNREADY}"
        return reason


Why = str | RemoteReason  # worded already, or when read


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a name answers: `groups` of addresses in order of preference, and why."""

    tier: PolicyTier
    groups: tuple[tuple[str, ...], ...]
    clusters: tuple[str, ...]
    why: Why
    contributions: tuple[Contribution, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(chain.from_iterable(self.groups))

    @property
    def reason(self) -> str:
        return str(self.why)


@dataclass(frozen=True, slots=True)
class Scope:
    """What a pinned name is narrowed to; a cluster pin answers its gateways up or down."""

    kind: str  # "cluster" or "region"
    name: str

    def __str__(self) -> str:
        return f"pinned to {self.kind} {self.name}"


def resolve(
    instances: Mapping[str, Instance],
    known: Sites,
    local: str | None,
    scope: Scope | None = None,
    explain: bool = False,
    unready: AbstractSet[str] | None = None,
) -> Resolution | None:
    """Apply the tiers to the instances of one name (already narrowed to `scope` if pinned).

    With `explain`, the resolution carries every cluster's contribution; without, it carries
    none, and a name the local cluster answers costs the same however many clusters run it.
    `unready`: the clusters of `instances` with no ready endpoint, if the caller holds them.
    """
    home = known.get(local) if local is not None else None
    mine = instances.get(local) if local is not None else None
    prefix = f"{scope}: " if scope is not None else ""
    if local is not None and mine is not None and mine.ready > 0 and mine.addresses:
        return _answered_locally(instances, known, local, home, mine, prefix, explain)

    region = home.region if home is not None else None
    judged = scope is None or scope.kind != "cluster"
    # Why the remote tier answers, before how: the local cluster runs it unready, or not at all.
    if mine is not None:
        lead = "no ready endpoint locally; "
    else:
        lead = "not in the local cluster; " if scope is None else ""
    if judged and not explain:
        quick = _healthy_remotes(instances, unready, known.healthy(), local, region, prefix + lead)
        if quick is not None:
            return quick
    remotes = [
        _remote(name, instances[name].ready, known.get(name), judged)
        for name in sorted(instances)
        if is_remote(name, local)
    ]

    waiting = None  # the local cluster's contribution, only ever shown when explaining
    if explain and local is not None and mine is not None:
        waiting = _local_note(local, home, mine, False)
    picked = _pick([r for r in remotes if r.ready > 0], region)
    if picked is not None:
        prefix += lead
        notes = [_unready(r) for r in remotes if not r.ready]
        return picked.resolution(PolicyTier.REMOTE, prefix, waiting, notes, explain)

    stranded = [r.name for r in remotes if r.ready > 0 and not r.every]
    if stranded:  # ready elsewhere, but no gateway address to send clients to
        prefix += f"no gateway address for the ready cluster(s) {', '.join(stranded)}"
    else:
        prefix += "no ready endpoint anywhere" if scope is None else "no ready endpoint"
    if local is not None and mine is not None and mine.addresses:
        why = f"{prefix}: answering the local cluster as if ready"
        notes = [r.note(r.unusable() or UNREADY) for r in remotes]
        return _local(PolicyTier.FAILOPEN, why + _skipped(notes), local, home, mine, notes, explain)

    picked = _pick(remotes, region)
    if picked is None:
        return None
    return picked.resolution(PolicyTier.FAILOPEN, f"{prefix}; as if ready, ", waiting, [], explain)


def _healthy_remotes(
    instances: Mapping[str, Instance],
    unready: AbstractSet[str] | None,
    healthy: Healthy,
    local: str | None,
    region: str | None,
    why: str,
) -> Resolution | None:
    """The remote tier in set operations when every ready remote cluster has its gateways all
    up, as the general rules below would answer it unexplained; None otherwise, or when none is
    ready.

    A name every cluster runs is resolved anew on each flip of any one of them, so this is the
    path under churn: the same answer and reason, reading no instance and no site one by one.
    """
    if unready is None:  # not held by the caller (`Index.unready` is, for a global name)
        unready = {name for name, instance in instances.items() if instance.ready <= 0}
    others = {local} if local is not None else set()
    ready = instances.keys() - unready - others
    if not ready or not ready <= healthy.clusters:
        return None
    inside, outside = healthy.split(region)
    near = list(filter(ready.__contains__, inside))
    far = list(filter(ready.__contains__, outside))
    clusters = tuple(near + far)
    reason = RemoteReason(why, clusters, len(near), region, tuple(unready - others))
    groups = tuple(healthy.addresses(names) for names in (near, far) if names)
    return Resolution(PolicyTier.REMOTE, groups, clusters, reason)


def _answered_locally(
    instances: Mapping[str, Instance],
    known: Mapping[str, Site],
    local: str,
    home: Site | None,
    mine: Instance,
    prefix: str,
    explain: bool,
) -> Resolution:
    """Rule 1: the local cluster has a ready endpoint; every other cluster is not needed."""
    why = f"{prefix}{mine.ready} ready endpoint(s) in the local cluster"
    notes = (
        [
            Contribution(name, i.ready, _gateways_of(known.get(name)), False, NOT_NEEDED)
            for name, i in sorted(instances.items())
            if is_remote(name, local)
        ]
        if explain
        else []
    )
    return _local(PolicyTier.LOCAL, why, local, home, mine, notes, explain)


class _Remote(NamedTuple):
    """A remote cluster of one name: its ready count and its gateways as that name counts them."""

    name: str
    ready: int
    region: str | None
    gateways: tuple[Gateway, ...]
    up: tuple[str, ...]  # what it may answer: its up gateways, or all of them for a cluster pin
    every: tuple[str, ...]
    down: str
    judged: bool

    def unusable(self) -> str:
        """Why it cannot answer with up gateways; empty when it can."""
        if not self.every:
            return NO_GATEWAY
        return "" if self.up else self.down

    def note(self, why: str) -> Contribution:
        return Contribution(self.name, self.ready, self.gateways, False, why)

    def used(self, addresses: tuple[str, ...]) -> Contribution:
        why = "gateways " + ", ".join(addresses)
        if self.down and not self.judged:
            why += f" up or down ({self.down})"
        elif self.down and len(addresses) == len(self.every):
            why += f" as if up ({self.down})"
        elif self.down:
            why += f" (skipped {self.down})"
        return Contribution(self.name, self.ready, self.gateways, True, why)


# (cluster, ready, judged) -> the Site a remote was worked out from, and that remote. A name
# run by every cluster is resolved again on each flip of any one of them, while the other
# clusters' parts stay the same; a new judgement is a new Site, so identity says it still holds.
_REMOTES: dict[tuple[str, int, bool], tuple[Site | None, _Remote]] = {}
_REMOTES_HELD = 1 << 14  # forgotten all at once beyond this (ready counts are unbounded)


def _remote(name: str, ready: int, known: Site | None, judged: bool) -> _Remote:
    held = _REMOTES.get((name, ready, judged))
    if held is not None and held[0] is known:
        return held[1]
    if known is None:
        remote = _Remote(name, ready, None, (), (), (), "", judged)
    else:
        up = known.up if judged else known.every
        remote = _Remote(
            name, ready, known.region, known.gateways, up, known.every, known.down, judged
        )
    if len(_REMOTES) >= _REMOTES_HELD:
        _REMOTES.clear()
    _REMOTES[(name, ready, judged)] = (known, remote)
    return remote


# cluster -> its remote with no ready endpoint, and the note that says so: named in the reason
# of every name it runs, on every resolution of each.
_UNREADY: dict[str, tuple[_Remote, Contribution]] = {}


def _unready(remote: _Remote) -> Contribution:
    held = _UNREADY.get(remote.name)
    if held is not None and held[0] is remote:
        return held[1]
    if len(_UNREADY) >= _REMOTES_HELD:
        _UNREADY.clear()
    note = _UNREADY[remote.name] = (remote, remote.note(UNREADY))
    return note[1]


@dataclass(frozen=True, slots=True)
class _Picked:
    """The remote tier's choice: clusters used with their addresses, in order of preference."""

    near: list[tuple[_Remote, tuple[str, ...]]]
    far: list[tuple[_Remote, tuple[str, ...]]]
    region: str | None
    skipped: list[Contribution]
    how: str  # "gateways of", or why every gateway is answered as if up
    failed_open: bool

    def resolution(
        self,
        tier: PolicyTier,
        why: str,
        waiting: Contribution | None,
        notes: list[Contribution],
        explain: bool,
    ) -> Resolution:
        """The answer: `why` comes before how it was chosen; `waiting` is the local cluster's
        contribution when it has the service without a ready endpoint."""
        used = self.near + self.far
        groups = tuple(
            tuple(dict.fromkeys(chain.from_iterable(addresses for _, addresses in group)))
            for group in (self.near, self.far)
            if group
        )
        names = [remote.name for remote, _ in used]
        reason = f"{why}{self.how} {', '.join(names)}"
        if self.near and self.far:
            reason += f" (region {self.region} first)"
        if not self.failed_open:
            reason += "".join(
                f"; {remote.name} skipped: {remote.down}"
                for remote, _ in used
                if remote.down and remote.judged
            )
        notes = notes + self.skipped
        contributions: tuple[Contribution, ...] = ()
        if explain:
            parts = [remote.used(addresses) for remote, addresses in used]
            contributions = tuple(([waiting] if waiting is not None else []) + parts + notes)
        return Resolution(
            PolicyTier.FAILOPEN if self.failed_open else tier,
            groups,
            tuple(names),
            reason + _skipped(notes),
            contributions,
        )


def _pick(candidates: list[_Remote], region: str | None) -> _Picked | None:
    """Up gateways of the candidates; all their gateways if none is up; None if none has any."""
    healthy = [r for r in candidates if r.up]
    if healthy:
        chosen = [(r, r.up) for r in healthy]
        skipped = [r.note(r.unusable()) for r in candidates if not r.up]
        how = "gateways of"
    else:  # fail open on health: a gateway that may work beats no answer
        reachable = [r for r in candidates if r.every]
        if not reachable:
            return None
        chosen = [(r, r.every) for r in reachable]
        skipped = [r.note(NO_GATEWAY) for r in candidates if not r.every]
        down = "; ".join(f"{r.name}: {r.down}" for r in reachable)
        how = f"every gateway is down ({down}), answering them as if up: gateways of"
    near = [(r, a) for r, a in chosen if region is not None and r.region == region]
    far = [(r, a) for r, a in chosen if region is None or r.region != region]
    return _Picked(near, far, region, skipped, how, failed_open=not healthy)


def _local(
    tier: PolicyTier,
    why: str,
    local: str,
    home: Site | None,
    mine: Instance,
    notes: list[Contribution],
    explain: bool,
) -> Resolution:
    """The local cluster answers with its own addresses."""
    contributions = (_local_note(local, home, mine, True), *notes) if explain else ()
    return Resolution(tier, (mine.addresses,), (local,), why, contributions)


def _local_note(local: str, home: Site | None, mine: Instance, used: bool) -> Contribution:
    """The local cluster's part; its gateways are listed as they are, never judged."""
    gateways = _gateways_of(home)
    why = "its own addresses " + ", ".join(mine.addresses) if used else "no ready endpoint"
    return Contribution(local, mine.ready, gateways, used, f"local cluster: {why}")


def _gateways_of(known: Site | None) -> tuple[Gateway, ...]:
    return known.gateways if known is not None else ()


def _skipped(notes: list[Contribution]) -> str:
    return "".join(f"; {n.cluster} skipped: {n.why}" for n in notes if not n.used)
