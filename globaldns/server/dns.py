"""UDP and TCP DNS transports around the sans-I/O responder.

TCP follows RFC 7766: two-byte length framing, pipelined queries answered in order, an idle
timeout, and a cap on concurrent connections so idle or half-open clients cannot exhaust the
server.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from bisect import bisect_left
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import TYPE_CHECKING

from globaldns.dns.responder import Responder

if TYPE_CHECKING:
    from globaldns.server._fastudp import FastUdp

log = logging.getLogger(__name__)

# Set to 1 to serve UDP from the pure-Python loop even when the compiled one is built.
PURE_PYTHON_ENV = "GLOBALDNS_PURE_PYTHON"


# Upper bounds (seconds) of the request-duration buckets, CoreDNS-like: 0.25 ms doubling to 8 s.
DURATION_BUCKETS: tuple[float, ...] = (
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032,
    0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
)  # fmt: skip
# The same bounds in nanoseconds, so a query costs an int subtraction and a bisect.
_BOUNDS_NS = tuple(round(bound * 1e9) for bound in DURATION_BUCKETS)


def _buckets() -> list[int]:
    return [0] * (len(DURATION_BUCKETS) + 1)


@dataclass
class TransportCounters:
    """Plain integers the transports count; exported to Prometheus only when scraped.

    `*_durations[i]` counts queries answered within `DURATION_BUCKETS[i]` seconds and above the
    bound before (non-cumulative; the last slot is +Inf), from the moment the server read them.
    """

    tcp_open: int = 0
    tcp_accepted: int = 0
    tcp_refused: int = 0
    tcp_timeouts: int = 0
    errors: int = 0  # the network's: ICMP errors, full send buffers
    bugs: int = 0  # the responder raised: logged with a traceback, one query lost
    udp_durations: list[int] = field(default_factory=_buckets)
    udp_duration_sum: float = 0.0
    tcp_durations: list[int] = field(default_factory=_buckets)
    tcp_duration_sum: float = 0.0


def compiled_udp() -> type[FastUdp] | None:
    """The compiled UDP loop, unless it was not built or `GLOBALDNS_PURE_PYTHON=1` says no."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        from globaldns.server._fastudp import FastUdp
    except ImportError:
        return None
    return FastUdp


class UdpServer:
    """Answers datagrams straight from the socket: each readiness event drains up to `BATCH`.

    Cheaper per query than an asyncio DatagramProtocol (no transport layer between the socket
    and the responder), and under load one wake-up serves many queries. The batch bound keeps
    TCP, the admin server and table updates from waiting behind a flood. With the compiled loop
    (`_fastudp.c`), a wake-up is one recvmmsg and one sendmmsg, and questions the memo knows
    never enter Python; the pure loop below is the same logic, a system call per datagram.
    """

    BATCH = 64

    def __init__(
        self, responder: Responder, counters: TransportCounters, sock: socket.socket
    ) -> None:
        self.responder = responder
        self.counters = counters
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        fast = compiled_udp()
        self.compiled = fast is not None
        if fast is not None:
            loop = fast(sock.fileno(), responder, self._respond, counters, _BOUNDS_NS)
            self.loop.add_reader(sock.fileno(), loop.drain)
        else:
            self.loop.add_reader(sock.fileno(), self._readable)

    def _respond(self, data: bytes) -> bytes | None:
        """The responder's reply for the compiled loop, which hands over what the memo lacks."""
        try:
            return self.responder.respond(data, True)
        except Exception:  # a bug must cost one query, never the server
            self.counters.bugs += 1
            log.exception("failed to answer a UDP query")
            return None

    def _readable(self) -> None:
        """Drain a batch; each reply is timed from the wake-up that read its query."""
        recvfrom, sendto, respond = self.sock.recvfrom, self.sock.sendto, self.responder.respond
        counters = self.counters
        durations = counters.udp_durations
        start = perf_counter_ns()
        total = 0
        for _ in range(self.BATCH):
            try:
                data, addr = recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. an ICMP error for an earlier reply
                counters.errors += 1
                continue
            try:
                reply = respond(data, True)
            except Exception:  # a bug must cost one query, never the server
                counters.bugs += 1
                log.exception("failed to answer a UDP query from %s", addr[0])
                continue
            if reply is not None:
                try:
                    sendto(reply, addr)
                except OSError:  # send buffer full or the client gone: UDP may drop
                    counters.errors += 1
                elapsed = perf_counter_ns() - start
                durations[bisect_left(_BOUNDS_NS, elapsed)] += 1
                total += elapsed
        counters.udp_duration_sum += total * 1e-9

    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class TcpProtocol(asyncio.Protocol):
    """One TCP client: frames in, frames out, closed when idle."""

    def __init__(
        self, responder: Responder, counters: TransportCounters, idle: float, cap: int
    ) -> None:
        self.responder = responder
        self.counters = counters
        self.idle = idle
        self.cap = cap
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.counters.tcp_open >= self.cap:
            self.counters.tcp_refused += 1
            transport.abort()  # type: ignore[attr-defined]
            self.transport = None
            return
        self.counters.tcp_open += 1
        self.counters.tcp_accepted += 1
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.idle, self._expire)

    def _expire(self) -> None:
        self.counters.tcp_timeouts += 1
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        start = perf_counter_ns()
        self.buffer += data
        self._arm()
        replies: list[bytes] = []
        while len(self.buffer) >= 2:
            size = self.buffer[0] << 8 | self.buffer[1]
            if len(self.buffer) < 2 + size:
                break
            message = bytes(self.buffer[2 : 2 + size])
            del self.buffer[: 2 + size]
            try:
                reply = self.responder.respond(message, False)
            except Exception:  # a bug must cost one query, never the server
                self.counters.bugs += 1
                log.exception("failed to answer a TCP query")
                reply = None
            if reply is None:
                # Unreadable or a reply: the stream can no longer be trusted (RFC 7766 §6.2.4).
                self.transport.close()
                break
            replies.append(len(reply).to_bytes(2, "big") + reply)
        if replies:
            self.transport.write(b"".join(replies))
            elapsed = perf_counter_ns() - start  # every reply of the batch leaves in this write
            self.counters.tcp_durations[bisect_left(_BOUNDS_NS, elapsed)] += len(replies)
            self.counters.tcp_duration_sum += elapsed * len(replies) * 1e-9

    def eof_received(self) -> bool | None:
        return None  # close once our writes are flushed

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.counters.tcp_open -= 1
            self.transport = None


async def start(
    responder: Responder,
    host: str,
    port: int,
    counters: TransportCounters,
    idle: float = 10.0,
    cap: int = 1000,
) -> tuple[UdpServer, asyncio.Server]:
    """Bind UDP and TCP on the same address; port 0 binds TCP to the port UDP got.

    With port 0 the port the kernel picks for UDP may be taken for TCP: another is tried.
    An IPv6 address (`::` included) serves IPv4 clients too on both sockets, whatever the
    system's `net.ipv6.bindv6only` says, so an IPv4 client can retry a truncated answer.
    """
    loop = asyncio.get_running_loop()
    for attempt in range(PORT_ATTEMPTS if port == 0 else 1):
        udp = UdpServer(responder, counters, bind(host, port, socket.SOCK_DGRAM))
        try:
            sock = bind(host, udp.address()[1], socket.SOCK_STREAM)
            break
        except OSError as err:
            udp.close()
            if err.errno != errno.EADDRINUSE or attempt == PORT_ATTEMPTS - 1 or port:
                raise
    try:
        tcp = await loop.create_server(
            lambda: TcpProtocol(responder, counters, idle, cap), sock=sock, backlog=1024
        )
    except OSError:
        sock.close()
        udp.close()
        raise
    return udp, tcp


PORT_ATTEMPTS = 20  # ports the kernel picks for UDP, tried for TCP too, before giving up

# Room for a few milliseconds of queries at 100k+ packets/s, so a pause of the loop (a table
# commit, the collector, other work on the core) drops nothing; the kernel caps it at rmem_max.
UDP_RECEIVE_BUFFER = 4 << 20


def bind(host: str, port: int, kind: socket.SocketKind) -> socket.socket:
    """A non-blocking socket bound to `host`:`port`, dual stack when `host` is IPv6."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
