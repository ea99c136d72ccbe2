"""UDP and TCP DNS transports around the sans-I/O responder.

TCP follows RFC 7766: two-byte length framing, pipelined queries answered in order, an idle
timeout counted from the last complete message, flow control that stops reading a client which
does not read its answers, and caps on connections (in all and per client address), so that a
slow or hostile client costs a bounded amount and never shuts others out.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import socket
from bisect import bisect_left
from dataclasses import dataclass, field
from enum import IntEnum
from time import perf_counter_ns
from typing import TYPE_CHECKING

from globaldns.dns.memo import Recent
from globaldns.dns.responder import Responder
from globaldns.server.rrl import RateLimiter, Verdict, truncated

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
        self,
        responder: Responder,
        counters: TransportCounters,
        sock: socket.socket,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.responder = responder
        self.counters = counters
        self.sock = sock
        self.limiter = limiter
        # A wildcard listener replies from the address each query came to (`bind` asked the
        # kernel to say it): from the route's source address, clients would drop the reply.
        self.pktinfo = sock.getsockname()[0] in WILDCARDS
        self.loop = asyncio.get_running_loop()
        # Rate limiting judges every reply by its source in Python: the pure loop serves then.
        fast = compiled_udp() if limiter is None else None
        self.compiled = fast is not None
        if fast is not None:
            loop = fast(sock.fileno(), responder, self._respond, counters, _BOUNDS_NS)
            self.loop.add_reader(sock.fileno(), loop.drain)
        else:
            self.loop.add_reader(sock.fileno(), self._readable)

    def _respond(self, data: bytes, seen: Recent | None) -> bytes | None:
        """The responder's reply for the compiled loop, which hands over what it cannot answer
        from the memo with what the memo holds for it (`seen`): the memo is asked once."""
        try:
            return self.responder.respond(data, True, seen)
        except Exception:  # a bug must cost one query, never the server
            self.counters.bugs += 1
            log.exception("failed to answer a UDP query")
            return None

    def _readable(self) -> None:
        """Drain a batch; each reply is timed from the wake-up that read its query."""
        recvfrom, sendto, respond = self.sock.recvfrom, self.sock.sendto, self.responder.respond
        recvmsg, sendmsg, pktinfo = self.sock.recvmsg, self.sock.sendmsg, self.pktinfo
        limiter = self.limiter
        counters = self.counters
        durations = counters.udp_durations
        start = perf_counter_ns()
        now = start * 1e-9  # monotonic seconds, for the rate limiter's buckets
        total = 0
        ancillary: list[tuple[int, int, bytes]] = []
        for _ in range(self.BATCH):
            try:
                if pktinfo:
                    data, ancillary, _, addr = recvmsg(65535, PKTINFO_SPACE)
                else:
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
            if reply is not None and limiter is not None:
                verdict = limiter.judge(addr[0], reply, now)
                if verdict == Verdict.DROP:
                    continue
                if verdict == Verdict.SLIP:
                    reply = truncated(reply)
            if reply is not None:
                try:
                    if pktinfo:
                        sendmsg((reply,), from_destination(ancillary), 0, addr)
                    else:
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
        self.counters.tcp_durations[bisect_left(_BOUNDS_NS, elapsed)] += count
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


async def start(
    responder: Responder,
    host: str,
    port: int,
    counters: TransportCounters,
    clients: TcpClients | None = None,
    limiter: RateLimiter | None = None,
) -> tuple[UdpServer, asyncio.Server]:
    """Bind UDP and TCP on the same address; port 0 binds TCP to the port UDP got.

    Listeners sharing one `clients` share its caps; without it, this one has its own, with the
    default limits. Listeners sharing one `limiter` share its buckets (UDP only: a TCP client
    cannot spoof its address).

    With port 0 the port the kernel picks for UDP may be taken for TCP: another is tried.
    An IPv6 address (`::` included) serves IPv4 clients too on both sockets, whatever the
    system's `net.ipv6.bindv6only` says, so an IPv4 client can retry a truncated answer.
    """
    loop = asyncio.get_running_loop()
    tcp_clients = clients or TcpClients(counters)
    for attempt in range(PORT_ATTEMPTS if port == 0 else 1):
        udp = UdpServer(responder, counters, bind(host, port, socket.SOCK_DGRAM), limiter)
        try:
            sock = bind(host, udp.address()[1], socket.SOCK_STREAM)
            break
        except OSError as err:
            udp.close()
            if err.errno != errno.EADDRINUSE or attempt == PORT_ATTEMPTS - 1 or port:
                raise
    try:
        tcp = await loop.create_server(
            lambda: TcpProtocol(responder, tcp_clients), sock=sock, backlog=1024
        )
    except OSError:
        sock.close()
        udp.close()
        raise
    return udp, tcp


PORT_ATTEMPTS = 20  # ports the kernel picks for UDP, tried for TCP too, before giving up

# Linux socket options Python's socket module does not name (linux/in.h, linux/in6.h).
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_OMIT = 5  # Linux 4.1+: never fragment by path MTU, ignore ICMP "need to frag"
IP_PKTINFO = 8
IPV6_MTU = 24
IPV6_MIN_MTU = 1280  # RFC 8200 §5: every IPv6 link carries it
WILDCARDS = ("0.0.0.0", "::")
# Room for the one control message a query brings: an in6_pktinfo is the larger (20 bytes).
PKTINFO_SPACE = socket.CMSG_SPACE(20)


def from_destination(ancillary: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """The control message that sends a reply from the address its query came to: IPv4's
    `in_pktinfo` with that address as the source (`ipi_spec_dst`), or IPv6's echoed."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
            return [(level, kind, bytes(4) + data[8:12] + bytes(4))]
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= 20:
            return [(level, kind, data[:20])]
    return []


def udp_options(sock: socket.socket, family: int, wildcard: bool) -> None:
    """UDP as NSD sets it up: replies are never fragmented by path MTU (IPv4 PMTU discovery
    off, so a forged ICMP "fragmentation needed" cannot split a reply for a fragment-injection
    attack; IPv6 fragments at the minimum MTU, 1280), and a wildcard listener learns each
    query's destination address to reply from it."""
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_OMIT)
    except OSError:  # a kernel before 4.1: DONT (ICMP can still lower the route's MTU)
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU, IPV6_MIN_MTU)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DONTFRAG, 0)
    if wildcard:
        if family == socket.AF_INET6:  # IPv4 clients of a dual-stack socket included
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)


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
            # Inherited by every accepted connection; set before listen() so the window fits.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, TCP_SOCKET_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, TCP_SOCKET_BUFFER)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
            udp_options(sock, family, host in WILDCARDS)
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
