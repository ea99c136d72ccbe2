"""Real parts that tests and benches share: globaldns as a process, DNS questions to it, and
what to read off a process. Loopback gateways (`harness.gateways`), the small mesh many tests
and a bench serve (`harness.meshes`) and the Kubernetes API emulator are modules of their own.
Not part of globaldns' package or image."""

from harness.dns_client import addresses, ask
from harness.measures import cpu_seconds, percentile, rss_mib
from harness.processes import REPO, GlobalDns, free_port, wait_for

__all__ = [
    "REPO",
    "GlobalDns",
    "addresses",
    "ask",
    "cpu_seconds",
    "free_port",
    "percentile",
    "rss_mib",
    "wait_for",
]
