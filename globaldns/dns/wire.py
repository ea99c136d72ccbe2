"""DNS wire constants and the hand parser for the question of a query.

Pure functions over bytes: no I/O, no allocation beyond what the answer path needs. dnslib is
used where answers are compiled (`globaldns.dns.compile`), never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from globaldns.errors import GlobalDnsError

HEADER_LEN: Final = 12
MAX_NAME_LEN: Final = 255
MAX_LABEL_LEN: Final = 63
# A label length byte with either top bit set is a compression pointer or an extended label.
LABEL_POINTER: Final = 0xC0

# Header flags (RFC 1035 4.1.1, RFC 4035), as masks over the byte they live in: the query path
# reads and writes header bytes 2 and 3 one at a time. Plain ints, so the hot path pays nothing.
# Byte 2: QR, OPCODE (4 bits), AA, TC, RD.
QR: Final = 0x80
OPCODE_MASK: Final = 0x78
OPCODE_SHIFT: Final = 3
AA: Final = 0x04
TC: Final = 0x02
RD: Final = 0x01
# The DO bit (RFC 3225), in the high byte of the OPT record's flags (its TTL's third byte).
EDNS_DO: Final = 0x80

# Opcodes (RFC 1035, 1996, 2136).
OPCODE_QUERY: Final = 0
OPCODE_NOTIFY: Final = 4

# Rcodes, including the extended BADVERS (RFC 6891).
NOERROR: Final = 0
FORMERR: Final = 1
SERVFAIL: Final = 2
NXDOMAIN: Final = 3
NOTIMP: Final = 4
REFUSED: Final = 5
BADVERS: Final = 16

# Record types the table and the responder name.
TYPE_A: Final = 1
TYPE_NS: Final = 2
TYPE_SOA: Final = 6
TYPE_TXT: Final = 16
TYPE_AAAA: Final = 28
TYPE_SRV: Final = 33
TYPE_OPT: Final = 41
TYPE_IXFR: Final = 251
TYPE_AXFR: Final = 252
TYPE_ANY: Final = 255
CLASS_IN: Final = 1

# EDNS(0): the payload size this server offers and honours over UDP (DNS flag day 2020).
EDNS_UDP_MAX: Final = 1232
PLAIN_UDP_MAX: Final = 512
OPT_RR_LEN: Final = 11


class Malformed(GlobalDnsError):
    """The packet has a readable header but is not a well-formed query (answer FORMERR)."""


@dataclass(frozen=True, slots=True)
class Edns:
    """What the query's OPT record asked for."""

    payload: int
    version: int
    do: bool


def name_to_wire(name: str) -> bytes:
    """Encode a dotted name (absolute or not) as uncompressed wire labels, lower-cased."""
    labels = [label for label in name.strip(".").lower().split(".") if label]
    out = bytearray()
    for label in labels:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"label {label!r} of {name!r} must be 1 to 63 characters")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > MAX_NAME_LEN:
        raise ValueError(f"name {name!r} is longer than 255 bytes in wire form")
    return bytes(out)


def fits(name: str) -> bool:
    """Whether a dotted name can be served at all: ASCII, labels of 1-63, 255 bytes on the wire."""
    try:
        name_to_wire(name)
    except ValueError:  # UnicodeEncodeError is one too
        return False
    return True


def wire_to_name(wire: bytes) -> str:
    """Decode uncompressed wire labels to a dotted absolute name (for logs and the slow path)."""
    labels: list[str] = []
    i = 0
    while wire[i]:
        length = wire[i]
        labels.append(wire[i + 1 : i + 1 + length].decode("ascii", "backslashreplace"))
        i += length + 1
    return ".".join(labels) + "."


def scan_name(data: bytes, start: int) -> int:
    """Walk an uncompressed name; return the offset just after it.

    Compression pointers are not allowed in a question (nothing precedes it to point at).
    """
    i = start
    end = len(data)
    while True:
        if i >= end:
            raise Malformed("name runs past the end of the packet")
        length = data[i]
        if length == 0:
            break
        if length & LABEL_POINTER:
            raise Malformed("compressed or extended label in the question")
        i += length + 1
    if i + 1 - start > MAX_NAME_LEN:
        raise Malformed("name longer than 255 bytes")
    return i + 1


def parse_opt(data: bytes, start: int) -> Edns:
    """Parse the single additional record, which must be an OPT with the root owner."""
    if len(data) < start + OPT_RR_LEN or data[start] != 0:
        raise Malformed("additional record is not an OPT with the root owner")
    if (data[start + 1] << 8 | data[start + 2]) != TYPE_OPT:
        raise Malformed("additional record is not an OPT")
    rdlen = data[start + 9] << 8 | data[start + 10]
    if len(data) < start + OPT_RR_LEN + rdlen:
        raise Malformed("OPT record data runs past the end of the packet")
    payload = data[start + 3] << 8 | data[start + 4]
    return Edns(payload=payload, version=data[start + 6], do=bool(data[start + 7] & EDNS_DO))


def udp_limit(edns: Edns | None) -> int:
    """The largest UDP reply the client can take, capped at what this server sends."""
    if edns is None:
        return PLAIN_UDP_MAX
    return max(PLAIN_UDP_MAX, min(edns.payload, EDNS_UDP_MAX))


def opt_record(do: bool, extended_rcode: int = 0) -> bytes:
    """The reply's OPT record: our payload size, version 0, DO echoed (as NSD does)."""
    return (
        b"\x00\x00\x29"
        + EDNS_UDP_MAX.to_bytes(2, "big")
        + bytes((extended_rcode >> 4, 0, EDNS_DO if do else 0, 0))
        + b"\x00\x00"
    )
