"""Response-rate limiting (RRL) over UDP, as NSD and Knot do it.

A spoofed source can make an authoritative server send its answers to a victim; RRL bounds what
one source network gets of one answer: a token bucket per (source prefix, answer), `rate`
replies a second, and past it each reply is dropped, except every `slip`-th, sent truncated (TC,
no records) so a real client behind that prefix retries over TCP, which no spoofer can.

Answers are classed as NSD classes them, so an attacker cannot escape the limit by varying what
it asks: a positive answer or NODATA by its name and type, every NXDOMAIN of the zone together
(random subdomains are one answer), every error together. TCP is never limited.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from enum import IntEnum

from globaldns.dns.wire import HEADER_LEN, NOERROR, RCODE_MASK, TC

# Buckets kept at most; when full, those idle long enough to be full again go, and if that
# frees nothing (a flood from more prefixes than this), all go: memory stays bounded and the
# limit fails open for a second rather than growing without end.
MAX_BUCKETS = 100_000
_ONE_QUESTION_NO_RECORDS = b"\x00\x01\x00\x00\x00\x00\x00\x00"


class Verdict(IntEnum):
    """What becomes of one reply: its counter's index (`RrlCounters`), past SEND."""

    SEND = 0
    SLIP = 1  # sent truncated
    DROP = 2

    @property
    def label(self) -> str:
        return {Verdict.SLIP: "slipped", Verdict.DROP: "dropped"}.get(self, "sent")


@dataclass(frozen=True)
class RrlSettings:
    rate: int = 0  # replies a second per source prefix and answer; 0: off
    slip: int = 2  # every slip-th limited reply is sent truncated; 0: none, 1: all
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56

    @property
    def on(self) -> bool:
        return self.rate > 0


class RateLimiter:
    """The buckets of one server (all its UDP listeners share them)."""

    def __init__(self, settings: RrlSettings, limited: list[int]) -> None:
        self.settings = settings
        self.rate = float(settings.rate)
        self.limited = limited  # replies by verdict, past SEND (`TransportCounters.rrl`)
        self._v4_mask = (1 << 32) - (1 << (32 - settings.ipv4_prefix))
        self._v6_mask = (1 << 128) - (1 << (128 - settings.ipv6_prefix))
        # key -> [tokens, last refill (monotonic seconds), limited replies since last send]
        self._buckets: dict[tuple[int, bytes], list[float]] = {}

    def prefix(self, address: str) -> int:
        """The source network a client address counts in (an IPv4-mapped IPv6 address, from a
        dual-stack listener, as the IPv4 address it is), tagged with its family."""
        if ":" not in address:
            return int.from_bytes(socket.inet_aton(address), "big") & self._v4_mask
        packed = int.from_bytes(socket.inet_pton(socket.AF_INET6, address.split("%")[0]), "big")
        if packed >> 32 == 0xFFFF:
            return packed & 0xFFFFFFFF & self._v4_mask
        return (packed & self._v6_mask) | 1 << 128

    def judge(self, address: str, reply: bytes, now: float) -> Verdict:
        """Take a token for this reply to `address`, or say it is limited."""
        key = (self.prefix(address), answer_class(reply))
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget(now)
            self._buckets[key] = [self.rate - 1, now, 0]
            return Verdict.SEND
        tokens = min(self.rate, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1:
            bucket[0] = tokens - 1
            bucket[2] = 0
            return Verdict.SEND
        bucket[0] = tokens
        bucket[2] += 1
        slip = self.settings.slip
        verdict = Verdict.SLIP if slip and bucket[2] % slip == 0 else Verdict.DROP
        self.limited[verdict] += 1
        return verdict

    def _forget(self, now: float) -> None:
        """Drop buckets idle for a second or more: they would be full again anyway."""
        idle = [key for key, bucket in self._buckets.items() if now - bucket[1] >= 1.0]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= MAX_BUCKETS:
            self._buckets.clear()


def answer_class(reply: bytes) -> bytes:
    """What a reply counts as (NSD's RRL types): its rcode, and for NOERROR its lower-cased
    question name and type; NXDOMAIN and errors carry no name, so none can be varied away."""
    rcode = reply[3] & RCODE_MASK
    if rcode != NOERROR or len(reply) <= HEADER_LEN or reply[5] != 1:
        return bytes((rcode,))
    return reply[HEADER_LEN : _question_end(reply)].lower()


def _question_end(reply: bytes) -> int:
    """Where the first question's name and type end (the class is left out)."""
    i = HEADER_LEN
    size = len(reply)
    while i < size and reply[i]:
        i += reply[i] + 1
    return min(i + 3, size)


def truncated(reply: bytes) -> bytes:
    """The slipped form of a reply: TC set, the question kept, every record dropped."""
    end = _question_end(reply) + 2 if reply[5] == 1 else HEADER_LEN
    return (
        reply[:2]
        + bytes((reply[2] | TC, reply[3]))
        + (_ONE_QUESTION_NO_RECORDS if end > HEADER_LEN else bytes(8))
        + reply[HEADER_LEN:end]
    )
