"""What the transports count: plain integers on the hot path, exported only when scraped."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from globaldns.server.rrl import Verdict

# Upper bounds (seconds) of the request-duration buckets, CoreDNS-like: 0.25 ms doubling to 8 s.
DURATION_BUCKETS: tuple[float, ...] = (
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032,
    0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
)  # fmt: skip
# The same bounds in nanoseconds, so a query costs an int subtraction and a bisect.
BOUNDS_NS = tuple(round(bound * 1e9) for bound in DURATION_BUCKETS)


def _buckets() -> list[int]:
    return [0] * (len(DURATION_BUCKETS) + 1)


class TcpRefusal(IntEnum):
    """Why a TCP connection was closed as soon as it was accepted: the refused counter's label
    and its index."""

    SERVER_CAP = 0  # the server holds `--tcp-max-connections` already
    ADDRESS_CAP = 1  # this client address holds `--tcp-max-connections-per-address` already

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass
class TransportCounters:
    """Plain integers the transports count; exported to Prometheus only when scraped.

    `*_durations[i]` counts queries answered within `DURATION_BUCKETS[i]` seconds and above the
    bound before (non-cumulative; the last slot is +Inf), from the moment the server read them.
    """

    tcp_open: int = 0
    tcp_accepted: int = 0
    tcp_refused: list[int] = field(default_factory=lambda: [0] * len(TcpRefusal))
    tcp_timeouts: int = 0  # closed having completed no message within the idle timeout
    tcp_unread_timeouts: int = 0  # the same, while paused with answers unread
    tcp_pauses: int = 0  # times a connection stopped being read: its answers went unread
    errors: int = 0  # the network's: ICMP errors, full send buffers
    bugs: int = 0  # the responder raised: logged with a traceback, one query lost
    udp_durations: list[int] = field(default_factory=_buckets)
    udp_duration_sum: float = 0.0
    tcp_durations: list[int] = field(default_factory=_buckets)
    tcp_duration_sum: float = 0.0
    rrl: list[int] = field(default_factory=lambda: [0] * len(Verdict))  # by verdict
