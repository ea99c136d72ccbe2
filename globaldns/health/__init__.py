"""Gateway health: TCP probes of remote gateways, counted up or down, fed into the table."""

from globaldns.health.metrics import GatewayHealthCollector
from globaldns.health.options import HEALTH_OPTIONS, ProbeSettings
from globaldns.health.prober import Prober

__all__ = ["HEALTH_OPTIONS", "GatewayHealthCollector", "ProbeSettings", "Prober"]
