"""The gateway-probe flags, declared like every other option (see globaldns.config)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from globaldns.config import Option, seconds

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


HEALTH_OPTIONS = (
    Option(
        "--gateway-probe-port",
        probe_port,
        None,
        "TCP port gateways are probed on, for every cluster; 0 turns probing off "
        "(default: the gateway Service's 'tls' port in Kubernetes, else 15443; a mesh file's "
        "probePort)",
        metavar="PORT",
    ),
    Option(
        "--gateway-probe-interval",
        positive_seconds,
        DEFAULT_INTERVAL,
        "seconds between probes of one gateway address",
        metavar="SECONDS",
    ),
    Option(
        "--gateway-probe-timeout",
        positive_seconds,
        DEFAULT_TIMEOUT,
        "seconds a probe's TCP connect may take before it counts as failed",
        metavar="SECONDS",
    ),
)


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """`port`: None lets each cluster's own probe port decide; 0 is off; else for every cluster."""

    port: int | None = None
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> ProbeSettings:
        return cls(
            port=settings["gateway_probe_port"],
            interval=settings["gateway_probe_interval"],
            timeout=settings["gateway_probe_timeout"],
        )

    def port_for(self, cluster_port: int | None) -> int | None:
        """The port to probe a cluster on, or None when it is not probed."""
        if self.port == 0:
            return None
        return self.port if self.port is not None else cluster_port
