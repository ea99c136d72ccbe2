"""Why a name exists, and which reason wins when several spell the same name.

Claims are totally ordered, strongest first, so a conflict always has one winner and that winner
never depends on the order the changes arrived in:

1. the kind: a ServiceEntry host, then a service's own name, then a name pinned to a cluster,
   then a name pinned to a region (`ClaimKind`, smallest value strongest);
2. between claims of one kind, the service whose name sorts first (plain string order), then the
   cluster or region name that sorts first. So `a-b-c.global`, claimed by service `a` pinned to
   cluster `b-c` and by service `a-b` pinned to cluster `c`, answers service `a` in `b-c`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ClaimKind(IntEnum):
    """The kinds of claim, strongest first."""

    ENTRY = 0
    SERVICE = 1
    CLUSTER_PIN = 2
    REGION_PIN = 3

    @property
    def label(self) -> str:
        """How `/table` and `globaldns table` name it: entry, service, cluster-pinned, ..."""
        return _LABELS[self]


_LABELS = {
    ClaimKind.ENTRY: "entry",
    ClaimKind.SERVICE: "service",
    ClaimKind.CLUSTER_PIN: "cluster-pinned",
    ClaimKind.REGION_PIN: "region-pinned",
}


@dataclass(frozen=True, slots=True, order=True)
class Claim:
    """`host` narrowed to `scope` (a cluster or a region) for pinned names; ordered as above."""

    kind: ClaimKind
    host: str
    scope: str = ""


def pinned(host: str, suffix: str) -> str:
    """The name that pins `host` to a cluster or region: the suffix after its first label."""
    first, _, rest = host.partition(".")
    return f"{first}-{suffix}.{rest}" if rest else f"{first}-{suffix}"
