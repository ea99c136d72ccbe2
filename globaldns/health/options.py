"""The gateway-probe settings: their flags (declared as `config.Option`s) and the frozen type
the prober reads."""

from __future__ import annotations

from dataclasses import dataclass

from globaldns.config import Option, seconds, setting
from globaldns.config.option import options_of

DEFAULT_INTERVAL = 2.0
DEFAULT_TIMEOUT = 1.0


def probe_port(value: str | int) -> int:
    """A TCP port, or 0 to turn probing off everywhere."""
    if isinstance(value, bool) or not str(value).strip().isdigit() or int(value) > 65535:
        raise ValueError(f"{value!r} is not a port 1-65535 (or 0 to turn probing off)")
    return int(value)


def positive_seconds(value: str | int | float) -> float:
    number = seconds(value)
    if number == 0:
        raise ValueError("must be more than 0 seconds")
    return number


PORT = Option(
    "--gateway-probe-port",
    probe_port,
    None,
    "TCP port gateways are probed on, for every cluster; 0 turns probing off "
    "(default: the gateway Service's 'tls' port in Kubernetes, else 15443; a mesh file's "
    "probePort)",
    metavar="PORT",
)
INTERVAL = Option(
    "--gateway-probe-interval",
    positive_seconds,
    DEFAULT_INTERVAL,
    "seconds between probes of one gateway address",
    metavar="SECONDS",
)
TIMEOUT = Option(
    "--gateway-probe-timeout",
    positive_seconds,
    DEFAULT_TIMEOUT,
    "seconds a probe's TCP connect may take before it counts as failed",
    metavar="SECONDS",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSettings:
    """`port`: None lets each cluster's own probe port decide; 0 is off; else for every cluster."""

    port: int | None = setting(PORT)
    interval: float = setting(INTERVAL)
    timeout: float = setting(TIMEOUT)

    def port_for(self, cluster_port: int | None) -> int | None:
        """The port to probe a cluster on, or None when it is not probed."""
        if self.port == 0:
            return None
        return self.port if self.port is not None else cluster_port


HEALTH_OPTIONS = options_of(ProbeSettings)
