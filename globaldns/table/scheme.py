"""Naming schemes: which names a zone has for the facts of the index.

One index, several zones: `global.` names a service by its identity (`service.ns`, or the
label's value) and pins it to each cluster and region it runs in; a zone with another scheme
(`clusterset.local`, SPEC §7) compiles from the same index into its own `Zone` through its own
`Pipeline`. A scheme returns None for a name it does not have (a zone without pinned names);
why each name exists, and which wins when two spell the same, is `claims.py`'s.
"""

from __future__ import annotations

from typing import Protocol


class NamingScheme(Protocol):
    """The names (relative to the zone) of a service host, pinned to its clusters and
    regions, and of a ServiceEntry host."""

    def service(self, host: str) -> str | None:
        """The name a service answers by in every cluster that runs it."""

    def cluster_pin(self, host: str, cluster: str) -> str | None:
        """The name that answers the service in one cluster only."""

    def region_pin(self, host: str, region: str) -> str | None:
        """The name that answers the service in one region only."""

    def entry(self, host: str) -> str | None:
        """The name a ServiceEntry host answers by."""


class GlobalScheme:
    """`global.`: the host itself (`service.ns` or its identity), and the host pinned to a
    cluster or region (`pinned`); entries' hosts as written."""

    def service(self, host: str) -> str:
        return host

    def cluster_pin(self, host: str, cluster: str) -> str:
        return pinned(host, cluster)

    def region_pin(self, host: str, region: str) -> str:
        return pinned(host, region)

    def entry(self, host: str) -> str:
        return host


def pinned(host: str, suffix: str) -> str:
    """The name that pins `host` to a cluster or region: the suffix after its first label."""
    first, _, rest = host.partition(".")
    return f"{first}-{suffix}.{rest}" if rest else f"{first}-{suffix}"


class ClustersetScheme:
    """`clusterset.local` (SPEC §7): no name comes from a host, a cluster, a region or an
    entry; its names come from the exports (`clusterset.names`), one set per service."""

    def service(self, host: str) -> None:
        return None

    def cluster_pin(self, host: str, cluster: str) -> None:
        return None

    def region_pin(self, host: str, region: str) -> None:
        return None

    def entry(self, host: str) -> None:
        return None
