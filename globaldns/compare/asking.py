"""The questions `globaldns compare` sends: one name and type to one server, read as an
outcome that compares order-insensitively (records rotate), over UDP (install's own client)
with TCP when the reply is truncated, or over TCP only (`kubectl port-forward` carries no UDP).

Queries go only to the addresses given; each is bounded by a timeout and a number of tries.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from dataclasses import dataclass, field
from enum import Enum

from dnslib import QTYPE, RCODE, DNSError, DNSRecord

from globaldns.config import host_port_text
from globaldns.dns.compile import WIRING_LABEL
from globaldns.install.ask import ask

MAX_TCP_REPLY = 65535  # a length prefix cannot say more


class Outcome(Enum):
    """What a server said to one question."""

    ADDRESSES = "addresses"
    NODATA = "NODATA"  # NOERROR, no record of the type: the name exists
    NXDOMAIN = "NXDOMAIN"
    ERROR = "error"  # another rcode (SERVFAIL, REFUSED, ...): `Reply.rcode` names it
    NO_REPLY = "no reply"


@dataclass(frozen=True, slots=True)
class Reply:
    outcome: Outcome
    addresses: frozenset[str] = field(default_factory=frozenset)
    rcode: str = ""

    def __str__(self) -> str:
        if self.outcome is Outcome.ADDRESSES:
            return ",".join(sorted(self.addresses, key=ipaddress.ip_address))
        return self.rcode if self.outcome is Outcome.ERROR else self.outcome.value

    @property
    def answers(self) -> bool:
        return self.outcome is Outcome.ADDRESSES


@dataclass(frozen=True, slots=True)
class Server:
    host: str
    port: int
    tcp: bool = False  # every question over TCP

    @property
    def address(self) -> str:
        return host_port_text(self.host, self.port)


async def question(server: Server, name: str, qtype: str, timeout: float) -> Reply:
    """`name`/`qtype` as `server` answers it (NO_REPLY when it did not)."""
    reply = await _reply(server, name, qtype, timeout)
    return Reply(Outcome.NO_REPLY) if reply is None else read(reply, qtype)


async def _reply(server: Server, name: str, qtype: str, timeout: float) -> DNSRecord | None:
    """Over UDP, then over TCP when the reply was truncated or none came (a second try that
    a lost datagram cannot fail); over TCP only for a `tcp` server."""
    reply = None if server.tcp else await ask(server.host, server.port, name, qtype, timeout)
    if reply is None or reply.header.tc:
        reply = await ask_tcp(server, name, qtype, timeout)
    return reply


def read(reply: DNSRecord, qtype: str) -> Reply:
    """The reply's outcome: its addresses of `qtype`, in canonical form."""
    rcode = reply.header.rcode
    if rcode == RCODE.NXDOMAIN:
        return Reply(Outcome.NXDOMAIN)
    if rcode != RCODE.NOERROR:
        return Reply(Outcome.ERROR, rcode=str(RCODE.get(rcode)))
    wanted = getattr(QTYPE, qtype)
    addresses = frozenset(
        str(ipaddress.ip_address(str(rr.rdata))) for rr in reply.rr if rr.rtype == wanted
    )
    return Reply(Outcome.ADDRESSES, addresses) if addresses else Reply(Outcome.NODATA)


async def ask_tcp(server: Server, name: str, qtype: str, timeout: float) -> DNSRecord | None:
    """`install.ask.ask` over TCP: the reply, or None when none came within `timeout`."""
    query = DNSRecord.question(name, qtype)
    query.header.id = secrets.randbelow(1 << 16)
    packed = query.pack()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(server.host, server.port)
            try:
                writer.write(len(packed).to_bytes(2, "big") + packed)
                size = int.from_bytes(await reader.readexactly(2), "big")
                reply = DNSRecord.parse(await reader.readexactly(min(size, MAX_TCP_REPLY)))
            finally:
                writer.close()
    except (TimeoutError, OSError, asyncio.IncompleteReadError, DNSError):
        return None
    return reply if reply.header.id == query.header.id and reply.q == query.q else None


async def identify(server: Server, zone: str, timeout: float) -> str:
    """What the zone's reserved name says at `server` (`globaldns zone=... cluster=...` when it
    is a globaldns, or one that forwards the zone to one); "" otherwise."""
    reply = await _reply(server, f"{WIRING_LABEL}.{zone.strip('.')}.", "TXT", timeout)
    if reply is None or reply.header.rcode != RCODE.NOERROR:
        return ""
    texts = [str(rr.rdata).strip('"') for rr in reply.rr if rr.rtype == QTYPE.TXT]
    return next((text for text in texts if text.startswith("globaldns ")), "")
