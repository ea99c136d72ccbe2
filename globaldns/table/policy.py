"""The local-first policy: which addresses answer a name, in which groups of equal preference.

1. local: the local cluster has the service with a ready endpoint -> its own addresses;
2. remote: else every remote cluster with a ready endpoint -> its gateways, clusters of the
   local cluster's region first, then the rest;
3. fail open: nobody ready -> as if everybody were, so a cold start never blanks a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from globaldns.dns.compile import Tier
from globaldns.table.model import Cluster, Instance


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a name answers: `groups` of addresses in order of preference, and why."""

    tier: Tier
    groups: tuple[tuple[str, ...], ...]
    clusters: tuple[str, ...]
    reason: str

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(address for group in self.groups for address in group)


def resolve(
    instances: Mapping[str, Instance],
    clusters: Mapping[str, Cluster],
    local: str | None,
) -> Resolution | None:
    """Apply the tiers to the instances of one name (already narrowed for a pinned name)."""
    local_instance = instances.get(local) if local is not None else None
    if local_instance is not None and local_instance.ready > 0 and local_instance.addresses:
        return Resolution(
            Tier.LOCAL,
            (local_instance.addresses,),
            (local,),  # type: ignore[arg-type]
            f"{local_instance.ready} ready endpoint(s) in the local cluster",
        )
    reachable = sorted(
        name for name in instances if name != local and clusters.get(name, _NOWHERE).gateways
    )
    ready = [name for name in reachable if instances[name].ready > 0]
    if ready:
        return _remote(
            Tier.REMOTE, ready, clusters, local, "no ready endpoint locally; gateways of"
        )
    if local_instance is not None and local_instance.addresses:
        return Resolution(
            Tier.FAILOPEN,
            (local_instance.addresses,),
            (local,),  # type: ignore[arg-type]
            "no ready endpoint anywhere: answering the local cluster as if ready",
        )
    if reachable:
        why = "no ready endpoint anywhere; as if ready, gateways of"
        return _remote(Tier.FAILOPEN, reachable, clusters, local, why)
    return None


_NOWHERE = Cluster(name="")


def _remote(
    tier: Tier,
    names: list[str],
    clusters: Mapping[str, Cluster],
    local: str | None,
    why: str,
) -> Resolution:
    region = clusters[local].region if local in clusters else None
    near = [name for name in names if region is not None and clusters[name].region == region]
    far = [name for name in names if name not in near]
    groups = tuple(
        tuple(dict.fromkeys(gw for name in group for gw in clusters[name].gateways))
        for group in (near, far)
        if group
    )
    reason = f"{why} {', '.join(near + far)}"
    if near and far:
        reason += f" (region {region} first)"
    return Resolution(tier, groups, tuple(near + far), reason)
