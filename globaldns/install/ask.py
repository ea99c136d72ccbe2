"""One DNS question over UDP, for the checks that must see a real answer rather than read a
configuration: install's "a globaldns pod answers" and the watchdog's "the cluster's DNS reaches
globaldns"."""

from __future__ import annotations

import asyncio
import secrets

from dnslib import QTYPE, DNSError, DNSRecord

MAX_REPLY = 65535


class _Answer(asyncio.DatagramProtocol):
    def __init__(self, question: DNSRecord) -> None:
        self.question = question
        self.reply: asyncio.Future[DNSRecord] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        try:
            reply = DNSRecord.parse(data[:MAX_REPLY])
        except DNSError:
            return  # not an answer: keep waiting until the deadline
        ours = reply.header.id == self.question.header.id and reply.q == self.question.q
        if ours and not self.reply.done():
            self.reply.set_result(reply)


async def ask(host: str, port: int, name: str, qtype: str, timeout: float) -> DNSRecord | None:
    """The reply to `name`/`qtype` from `host`:`port`, or None if none came within `timeout`
    (or the address cannot be reached from here). Replies to other questions are ignored."""
    question = DNSRecord.question(name, qtype)
    question.header.id = secrets.randbelow(1 << 16)
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Answer(question), remote_addr=(host, port)
        )
    except OSError:
        return None
    try:
        transport.sendto(question.pack())
        return await asyncio.wait_for(asyncio.shield(protocol.reply), timeout)
    except (TimeoutError, OSError):
        return None
    finally:
        transport.close()


def answers_zone(reply: DNSRecord | None, zone: str) -> bool:
    """Whether `reply` is an authoritative SOA answer for `zone`: a server that serves it."""
    if reply is None or reply.header.rcode != 0 or not reply.header.aa:
        return False
    wanted = zone.rstrip(".").lower() + "."
    return any(rr.rtype == QTYPE.SOA and str(rr.rname).lower() == wanted for rr in reply.rr)
