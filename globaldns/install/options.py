"""What `install` is asked to do in one cluster, and what install and uninstall report back."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from globaldns.errors import GlobalDnsError
from globaldns.install.targets import COREDNS

DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")

Say = Callable[[str], None]


class InstallError(GlobalDnsError):
    """This cluster failed; the message says why, what to do, and what was left behind."""


@dataclass(frozen=True)
class InstallOptions:
    zone: str
    ttl: int
    image: str | None
    local_cluster: str
    # Whether the operator named the cluster; else istiod's CLUSTER_ID, where Istio runs, wins
    # over the context name.
    named: bool = True
    keep_wired: bool = False
    dry_run: bool = False
    timeout: float = 60.0
    components: tuple[str, ...] = ()
    # Where to ask globaldns before wiring (None: its Service's ClusterIP, port 53).
    check_address: tuple[str, int] | None = None
    # The nodes' addresses, which components/networkpolicy admits for NodeLocal DNSCache.
    node_cidrs: tuple[str, ...] = ()
    # The operator's kustomize overlay, applied instead of the bundled base and components.
    kustomize: Path | None = None
    # The `kube-system` ConfigMap this cluster is wired through (`targets.choose`): the only
    # one the keep-wired Role may write. Install sets it from the cluster; a render assumes
    # the Corefile.
    wires: str = COREDNS
    also: tuple[str, ...] = ()  # other zones wired beside `zone` (`--zones`: clusterset.local)

    @property
    def cache(self) -> int:
        """Seconds CoreDNS caches our answers in the block install writes (at least 1)."""
        return max(self.ttl, 1)


@dataclass(frozen=True)
class Outcome:
    """What happened in one cluster, for the summary table."""

    changed: bool
    via: str = "-"
    address: str = "-"
    note: str = ""
    diff: str = ""
