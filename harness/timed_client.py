"""DNS questions over UDP timed twice: until the reply reached the client's socket (the
kernel's receive timestamp, SO_TIMESTAMPNS) and until the client process read it.

On a 2-core machine where a bench's client shares the cores with the server, the emulator and
the update pusher, the second also holds how long the client waited to be scheduled once the
reply had arrived; the first is what the server costs a client that has a core of its own (as
CoreDNS on another node has).
"""

from __future__ import annotations

import selectors
import socket
import struct
import time
from dataclasses import dataclass, field

import dns.message

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's number where Python lacks it
_TIMESPEC = struct.Struct("@qq")


@dataclass(frozen=True, slots=True)
class Timed:
    """One answered question: seconds until its reply reached the socket, and until read."""

    at_socket: float
    in_client: float
    reply: dns.message.Message


@dataclass
class Latencies:
    """Latencies of answered questions, both ways (see `Timed`), in seconds."""

    at_socket: list[float] = field(default_factory=list)
    in_client: list[float] = field(default_factory=list)

    def add(self, timed: Timed) -> None:
        self.at_socket.append(timed.at_socket)
        self.in_client.append(timed.in_client)

    def __iadd__(self, other: Latencies) -> Latencies:
        self.at_socket += other.at_socket
        self.in_client += other.in_client
        return self


class TimedAsker:
    """Asks one server on loopback, one question at a time, from one socket."""

    def __init__(self, port: int, timeout: float = 2.0) -> None:
        self.address = ("127.0.0.1", port)
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ)
        self.next_id = 0

    def ask(self, name: str, rdtype: str = "A") -> Timed | None:
        """The reply to `name`, timed; None when none came within the timeout. Replies to
        earlier questions (ones that timed out) are skipped by their ID and question."""
        query = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
        query.id = self.next_id = (self.next_id + 1) % 65536
        sent = time.time_ns()
        self.sock.sendto(query.to_wire(), self.address)
        deadline = time.monotonic() + self.timeout
        while self.selector.select(max(0.0, deadline - time.monotonic())):
            data, ancillary, _, _ = self.sock.recvmsg(65535, socket.CMSG_SPACE(_TIMESPEC.size))
            read = time.time_ns()
            reply = dns.message.from_wire(data, ignore_trailing=True)
            if not query.is_response(reply):
                continue
            arrived = _arrival(ancillary)
            if arrived is None:
                raise RuntimeError("the kernel gave no receive timestamp (SO_TIMESTAMPNS)")
            return Timed((arrived - sent) / 1e9, (read - sent) / 1e9, reply)
        return None

    def close(self) -> None:
        self.selector.close()
        self.sock.close()


def _arrival(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The receive timestamp among a datagram's control messages, in ns since the epoch."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds: int
            nanoseconds: int
            seconds, nanoseconds = _TIMESPEC.unpack(data[: _TIMESPEC.size])
            return seconds * 1_000_000_000 + nanoseconds
    return None
