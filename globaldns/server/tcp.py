"""DNS over TCP (RFC 7766): two-byte length framing, pipelined queries answered in order, an
idle timeout counted from the last complete message, flow control that stops reading a client
which does not read its answers, and caps on connections (in all and per client address), so
that a slow or hostile client costs a bounded amount and never shuts others out.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from bisect import bisect_left
from dataclasses import dataclass
from time import perf_counter_ns

from globaldns.dns.responder import Responder
from globaldns.server.counters import BOUNDS_NS, TcpRefusal, TransportCounters

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TcpLimits:
    """What TCP clients may hold: the defaults keep every connection at the caps, each at its
    worst, within 76 MiB (README, "DNS over TCP")."""

    idle: float = 10.0  # seconds a connection may go without completing a message
    connections: int = 256  # open connections, all listeners together
    per_address: int = 32  # open connections from one client address


# What one connection may hold in the process, whatever its client does (RFC 7766 §6.2.4):
# - unanswered input: at most one partial message (65,537 bytes) plus one read;
TCP_READ = 16 << 10  # bytes read from a socket at a time, into a buffer all connections share
# - unsent answers: reading stops when they pass the high-water mark and resumes at the low one,
#   so they stay under the mark plus one batch (a batch stops at the first answer past its size).
TCP_WRITE_HIGH = 16 << 10
TCP_WRITE_LOW = 4 << 10
TCP_BATCH = 16 << 10
# In the kernel, fixed socket buffers (no autotuning) bound what a client can park there; the
# kernel doubles the figure for its bookkeeping, so each direction holds up to 64 KiB.
TCP_SOCKET_BUFFER = 32 << 10


class TcpClients:
    """Every TCP connection of one server, on all its listeners: the caps they are admitted
    under, the client addresses holding them, and the read buffer they share."""

    def __init__(self, counters: TransportCounters, limits: TcpLimits | None = None) -> None:
        self.counters = counters
        self.limits = limits or TcpLimits()
        self.by_address: dict[str, int] = {}
        # One event loop serves them all and a read is answered before the next starts.
        self.scratch = bytearray(TCP_READ)

    def admit(self, address: str) -> TcpRefusal | None:
        """Count a new connection in, or say which cap refuses it."""
        counters, limits = self.counters, self.limits
        if counters.tcp_open >= limits.connections:
            return TcpRefusal.SERVER_CAP
        held = self.by_address.get(address, 0)
        if held >= limits.per_address:
            return TcpRefusal.ADDRESS_CAP
        self.by_address[address] = held + 1
        counters.tcp_open += 1
        counters.tcp_accepted += 1
        return None

    def release(self, address: str) -> None:
        counters = self.counters
        counters.tcp_open -= 1
        held = self.by_address[address] - 1
        if held:
            self.by_address[address] = held
        else:
            del self.by_address[address]


def client_address(peer: object) -> str:
    """The client's address as the per-address cap counts it: an IPv4 client of a dual-stack
    listener (`::ffff:a.b.c.d`) counts as `a.b.c.d`, as it does on an IPv4 listener."""
    if not isinstance(peer, tuple) or not peer:
        return "unknown"  # the peer left before we asked: it holds nothing for long
    address = ipaddress.ip_address(peer[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


class TcpProtocol(asyncio.BufferedProtocol):
    """One TCP client: frames in, answers out in order, a bounded amount held on its behalf.

    Reading stops while the client leaves its answers unread (`pause_writing`), so a client that
    never reads is held back by TCP flow control; a connection that completes no message within
    the idle timeout, paused or not, is closed (RFC 7766 §6.2.3: counted from the last complete
    message, so a byte at a time keeps nothing open).
    """

    def __init__(self, responder: Responder, clients: TcpClients) -> None:
        self.responder = responder
        self.clients = clients
        self.counters = clients.counters
        self.pending = bytearray()  # read, not yet answered
        self.transport: asyncio.Transport | None = None
        self.address = ""
        self.paused = False  # reading stopped: the client is not reading its answers
        self.last = 0.0  # loop time of the last complete message (at first, of the connection)
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.address = client_address(transport.get_extra_info("peername"))
        refusal = self.clients.admit(self.address)
        if refusal is not None:
            self.counters.tcp_refused[refusal] += 1
            transport.abort()  # type: ignore[attr-defined]
            return
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(TCP_WRITE_HIGH, TCP_WRITE_LOW)  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        self.last = loop.time()
        self.timer = loop.call_at(self.last + self.clients.limits.idle, self._expire)

    def _expire(self) -> None:
        """Close the connection unless a message completed since the timer was set."""
        if self.transport is None:
            return
        loop = asyncio.get_running_loop()
        deadline = self.last + self.clients.limits.idle
        if loop.time() < deadline:  # one timer per connection, moved only when it fires
            self.timer = loop.call_at(deadline, self._expire)
            return
        if self.paused:
            self.counters.tcp_unread_timeouts += 1
        else:
            self.counters.tcp_timeouts += 1
        self.transport.abort()

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.clients.scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.pending += memoryview(self.clients.scratch)[:nbytes]
        self._answer()

    def _answer(self) -> None:
        """Answer the complete messages read, in order, until the client falls behind."""
        transport = self.transport
        assert transport is not None
        respond = self.responder.respond
        pending = self.pending
        start = perf_counter_ns()
        replies: list[bytes] = []
        size = offset = 0
        end = len(pending)
        while not self.paused and end - offset >= 2:
            stop = offset + 2 + (pending[offset] << 8 | pending[offset + 1])
            if stop > end:
                break
            message = bytes(pending[offset + 2 : stop])
            offset = stop
            try:
                reply = respond(message, False)
            except Exception:  # a bug must cost one query, never the server
                self.counters.bugs += 1
                log.exception("failed to answer a TCP query")
                reply = None
            if reply is None:
                # Unreadable or a reply: the stream can no longer be trusted (RFC 7766 §6.2.4).
                self._write(replies, start)
                transport.close()
                pending.clear()
                return
            replies += (len(reply).to_bytes(2, "big"), reply)
            size += len(reply)
            if size >= TCP_BATCH:
                self._write(replies, start)  # may pause: pause_writing is called from write
                replies = []
                size = 0
        if offset:
            del pending[:offset]
            self.last = asyncio.get_running_loop().time()
        self._write(replies, start)

    def _write(self, replies: list[bytes], start: int) -> None:
        """Send framed replies; every one of them leaves in this write, timed from `start`."""
        if not replies or self.transport is None:
            return
        self.transport.write(b"".join(replies))
        count = len(replies) // 2
        elapsed = perf_counter_ns() - start
        self.counters.tcp_durations[bisect_left(BOUNDS_NS, elapsed)] += count
        self.counters.tcp_duration_sum += elapsed * count * 1e-9

    def pause_writing(self) -> None:
        """The client has left a high-water mark of answers unread: read no more from it."""
        if self.transport is None:
            return
        self.paused = True
        self.counters.tcp_pauses += 1
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The client has read its answers down to the low-water mark: answer what was read
        meanwhile, then read again unless that filled the buffer once more."""
        self.paused = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._answer()
        if not self.paused and not transport.is_closing():
            transport.resume_reading()

    def eof_received(self) -> bool | None:
        # Reading only goes on while nothing complete waits unanswered, so nothing is lost:
        # close once the answers already written are flushed.
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.clients.release(self.address)
            self.transport = None
        self.pending = bytearray()
