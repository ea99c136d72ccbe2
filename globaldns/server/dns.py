"""The DNS listeners: UDP sockets set up as NSD's and the loop that answers them, and `start`,
which binds UDP and TCP (tcp.py) on one address around the sans-I/O responder.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from bisect import bisect_left
from time import perf_counter_ns
from typing import TYPE_CHECKING

from globaldns.dns.memo import Recent
from globaldns.dns.responder import Responder
from globaldns.server.counters import BOUNDS_NS, TransportCounters
from globaldns.server.rrl import RateLimiter, Verdict, truncated
from globaldns.server.tcp import TCP_SOCKET_BUFFER, TcpClients, TcpProtocol

if TYPE_CHECKING:
    from globaldns.server._fastudp import FastUdp

log = logging.getLogger(__name__)

# Set to 1 to serve UDP from the pure-Python loop even when the compiled one is built.
PURE_PYTHON_ENV = "GLOBALDNS_PURE_PYTHON"


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
            loop = fast(sock.fileno(), responder, self._respond, counters, BOUNDS_NS)
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
                durations[bisect_left(BOUNDS_NS, elapsed)] += 1
                total += elapsed
        counters.udp_duration_sum += total * 1e-9

    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


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
