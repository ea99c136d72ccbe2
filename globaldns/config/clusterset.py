"""The options of the Multi-Cluster Services zone (`clusterset.local`, SPEC §7), served beside
`--zone` by the same server from the same table."""

from __future__ import annotations

from dataclasses import dataclass

from globaldns.config.option import Option, setting
from globaldns.config.values import flag, ttl, zone_name

CLUSTERSET_ZONE = Option(
    "--clusterset-zone", zone_name, "clusterset.local", "the Multi-Cluster Services zone served"
)
CLUSTERSET_TTL = Option(
    "--clusterset-ttl",
    ttl,
    5,
    "TTL of the clusterset zone's answers and negative answers (KEP-1645 leaves it open; "
    "CoreDNS multicluster and Lighthouse use 5)",
)
NO_CLUSTERSET = Option(
    "--no-clusterset",
    flag,
    False,
    "serve no clusterset zone (its questions are REFUSED)",
    switch=True,
)
CLUSTERSET_OPTIONS = (CLUSTERSET_ZONE, CLUSTERSET_TTL, NO_CLUSTERSET)


@dataclass(frozen=True, kw_only=True)
class ClustersetSettings:
    """Whether and how the clusterset zone is served."""

    zone: str = setting(CLUSTERSET_ZONE)
    ttl: int = setting(CLUSTERSET_TTL)
    off: bool = setting(NO_CLUSTERSET)
