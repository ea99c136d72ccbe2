"""What one zone is configured with: its name, TTL, SOA names, identity and answer limits.

Its own module because the compiler and the zone both read it (`zone.py` re-exports it, as
the `Zone` constructor's argument).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    zone: str = "global"
    ttl: int = 5
    nameserver: str = "globaldns.globaldns.svc.cluster.local"
    hostmaster: str = "hostmaster"
    max_answers: int | None = None
    # The cluster this server runs in, in the reserved name's TXT record (compile.wiring_text).
    cluster_id: str = ""
    # What CH TXT id.server/hostname.bind and NSID say, and version.bind; None: hidden.
    identity: str | None = None
    version: str | None = None
    # What a ServiceEntry without addresses answers (--default-address); none: it is not named.
    default_addresses: tuple[str, ...] = ()
