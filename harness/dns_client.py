"""One DNS question over UDP or TCP to a server on loopback, and the records of its answer."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query


def ask(
    port: int,
    name: str,
    rdtype: str = "A",
    tcp: bool = False,
    edns: int | bool = 0,
    payload: int = 1232,
    rd: bool = True,
    timeout: float = 2.0,
) -> dns.message.Message:
    if edns is False:
        query = dns.message.make_query(name, rdtype, use_edns=False)
    else:
        query = dns.message.make_query(name, rdtype, use_edns=edns, payload=payload)
    if not rd:
        query.flags &= ~dns.flags.RD
    if tcp:
        return dns.query.tcp(query, "127.0.0.1", port=port, timeout=timeout)
    return dns.query.udp(query, "127.0.0.1", port=port, timeout=timeout, ignore_trailing=True)


def addresses(reply: dns.message.Message) -> list[str]:
    return [rr.to_text() for rrset in reply.answer for rr in rrset]
