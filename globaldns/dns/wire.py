"""DNS wire constants and the hand parser for the question of a query.

Pure functions over bytes: no I/O, no allocation beyond what the answer path needs. dnslib is
used where answers are compiled (`globaldns.dns.compile`), never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
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
# Byte 3: RA, Z, AD, CD, RCODE (4 bits). A query with RCODE bits set is FORMERR, as NSD has it.
RCODE_MASK: Final = 0x0F
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
NOTAUTH: Final = 9
BADVERS: Final = 16
# TSIG errors (RFC 8945 §5.2): this server knows no key, so every signed query gets BADKEY.
BADKEY: Final = 17

# Record types the table and the responder name.
TYPE_A: Final = 1
TYPE_NS: Final = 2
TYPE_SOA: Final = 6
TYPE_TXT: Final = 16
TYPE_AAAA: Final = 28
TYPE_SRV: Final = 33
TYPE_OPT: Final = 41
TYPE_TSIG: Final = 250
TYPE_IXFR: Final = 251
TYPE_AXFR: Final = 252
TYPE_ANY: Final = 255
CLASS_IN: Final = 1
CLASS_CH: Final = 3
CLASS_ANY: Final = 255
# A record's fixed fields after its owner: type, class, TTL, RDLENGTH.
RR_FIXED_LEN: Final = 10
# Compression pointers followed in one name before it is called a loop.
MAX_POINTERS: Final = 32

# EDNS(0): the payload size this server offers and honours over UDP (DNS flag day 2020).
EDNS_UDP_MAX: Final = 1232
# EDNS option codes (IANA): NSID asks which server answered (RFC 5001).
OPTION_NSID: Final = 3
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
    nsid: bool = False  # the query asked for the server's identity (RFC 5001)


@dataclass(frozen=True, slots=True)
class Tsig:
    """A query's TSIG record (RFC 8945 §4.2), as much of it as an unsigned error reply echoes."""

    key: bytes  # the key name, uncompressed and lower-cased wire form
    algorithm: bytes  # the algorithm name, likewise
    time_and_fudge: bytes  # time signed (48 bits) and fudge, as sent
    original_id: bytes
    other: bytes

    def error_record(self, error: int) -> bytes:
        """The reply's TSIG: unsigned (MAC size 0, RFC 8945 §5.3.2), the error set, the rest
        echoed, as NSD writes it."""
        rdata = b"".join(
            (
                self.algorithm,
                self.time_and_fudge,
                b"\x00\x00",
                self.original_id,
                error.to_bytes(2, "big"),
                len(self.other).to_bytes(2, "big"),
                self.other,
            )
        )
        return b"".join(
            (
                self.key,
                TYPE_TSIG.to_bytes(2, "big"),
                CLASS_ANY.to_bytes(2, "big"),
                b"\x00\x00\x00\x00",
                len(rdata).to_bytes(2, "big"),
                rdata,
            )
        )


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


class Unfit(IntEnum):
    """Why a name is not served: the skipped-names counter's label and its index. Either it
    cannot be a DNS name, or the ServiceEntry naming it is one istiocoredns named nothing for."""

    LABEL_TOO_LONG = 0  # a label over 63 bytes, as a long Service name pinned to a cluster
    NAME_TOO_LONG = 1  # over 255 bytes in wire form
    NOT_A_LABEL = 2  # an empty label, or one that is not ASCII
    RESOLUTION_NONE = 3  # a ServiceEntry with `resolution: NONE`
    NO_ADDRESS = 4  # a ServiceEntry given no addresses, and no --default-address
    WIDE_CIDR = 5  # a ServiceEntry whose addresses are CIDRs wider than one address
    OUTSIDE_ZONE = 6  # a ServiceEntry host outside the zone (`legacy.example.com`)

    @property
    def label(self) -> str:
        return self.name.lower()


# The reasons a ServiceEntry's host is not named: they end when the entry changes.
ENTRY_SKIPS: Final = frozenset(
    {Unfit.RESOLUTION_NONE, Unfit.NO_ADDRESS, Unfit.WIDE_CIDR, Unfit.OUTSIDE_ZONE}
)


def unfit(name: str) -> tuple[Unfit, str] | None:
    """Why a dotted name (absolute or not) cannot be served, with the why in words; None when
    it can."""
    labels = name.strip(".").split(".")
    size = 1
    for index, label in enumerate(labels):
        which = "its first label" if index == 0 else f"its label {index + 1}"
        if not label or not label.isascii():
            return Unfit.NOT_A_LABEL, f"{which} is empty or not ASCII"
        if len(label) > MAX_LABEL_LEN:
            return Unfit.LABEL_TOO_LONG, f"{which} is {len(label)} bytes, over DNS's 63"
        size += len(label) + 1
    if size > MAX_NAME_LEN:
        return Unfit.NAME_TOO_LONG, f"it is {size} bytes long, over DNS's 255"
    return None


def fits(name: str) -> bool:
    """Whether a dotted name can be served at all: ASCII, labels of 1-63, 255 bytes on the wire."""
    return unfit(name) is None


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


def read_name(data: bytes, start: int) -> tuple[bytes, int]:
    """A name that may be compressed: its uncompressed lower-cased wire form, and the offset
    just after it where it starts. Pointers must point backwards and are bounded in number."""
    out = bytearray()
    i = start
    end = None
    hops = 0
    while True:
        if i >= len(data):
            raise Malformed("name runs past the end of the packet")
        length = data[i]
        if length & LABEL_POINTER == LABEL_POINTER:
            if i + 1 >= len(data):
                raise Malformed("compression pointer runs past the end of the packet")
            target = (length & ~LABEL_POINTER) << 8 | data[i + 1]
            hops += 1
            if target >= i or hops > MAX_POINTERS:
                raise Malformed("compression pointer loops or points forward")
            if end is None:
                end = i + 2
            i = target
            continue
        if length & LABEL_POINTER:
            raise Malformed("extended label type")
        out += data[i : i + length + 1]
        if len(out) > MAX_NAME_LEN or i + length >= len(data):
            raise Malformed("name longer than 255 bytes or past the end of the packet")
        if length == 0:
            return bytes(out).lower(), i + 1 if end is None else end
        i += length + 1


def _record(data: bytes, start: int) -> tuple[bytes, int, int, int, int]:
    """One resource record: its owner, type, class, where its RDATA starts and ends."""
    owner, i = read_name(data, start)
    if len(data) < i + RR_FIXED_LEN:
        raise Malformed("record runs past the end of the packet")
    rtype = data[i] << 8 | data[i + 1]
    rclass = data[i + 2] << 8 | data[i + 3]
    rdstart = i + RR_FIXED_LEN
    rdend = rdstart + (data[i + 8] << 8 | data[i + 9])
    if len(data) < rdend:
        raise Malformed("record data runs past the end of the packet")
    return owner, rtype, rclass, rdstart, rdend


def skip_records(data: bytes, start: int, count: int) -> int:
    """Walk `count` records (the authority section of an IXFR query); the offset after them."""
    for _ in range(count):
        start = _record(data, start)[4]
    return start


def parse_additional(data: bytes, start: int, count: int) -> tuple[Edns | None, Tsig | None]:
    """The additional section of a query: at most one OPT and one TSIG, the TSIG last, as NSD
    takes it; anything else is FORMERR."""
    edns: Edns | None = None
    tsig: Tsig | None = None
    for index in range(count):
        owner, rtype, rclass, rdstart, rdend = _record(data, start)
        if rtype == TYPE_OPT and edns is None and tsig is None and owner == b"\x00":
            edns = _opt(data, start, rdstart, rdend)
        elif rtype == TYPE_TSIG and index == count - 1 and rclass == CLASS_ANY:
            tsig = _tsig(data, owner, rdstart - 6, rdstart, rdend)
        else:
            raise Malformed("additional record is neither one OPT nor a final TSIG")
        start = rdend
    return edns, tsig


def _opt(data: bytes, start: int, rdstart: int, rdend: int) -> Edns:
    """An OPT record whose options tile its RDATA exactly (NSD: FORMERR otherwise)."""
    i = rdstart
    nsid = False
    while i < rdend:
        if rdend - i < 4 or rdend - i - 4 < (data[i + 2] << 8 | data[i + 3]):
            raise Malformed("EDNS option runs past the OPT record data")
        nsid = nsid or (data[i] << 8 | data[i + 1]) == OPTION_NSID
        i += 4 + (data[i + 2] << 8 | data[i + 3])
    payload = data[start + 3] << 8 | data[start + 4]
    do = bool(data[start + 7] & EDNS_DO)
    return Edns(payload=payload, version=data[start + 6], do=do, nsid=nsid)


def _tsig(data: bytes, key: bytes, ttl: int, rdstart: int, rdend: int) -> Tsig:
    """A TSIG record's fields (RFC 8945 §4.2); its TTL must be 0."""
    if data[ttl : ttl + 4] != b"\x00\x00\x00\x00":
        raise Malformed("TSIG with a TTL other than 0")
    algorithm, i = read_name(data, rdstart)
    if rdend < i + 10:
        raise Malformed("TSIG record data too short")
    mac_end = i + 10 + (data[i + 8] << 8 | data[i + 9])
    if rdend < mac_end + 6:
        raise Malformed("TSIG MAC runs past the record data")
    other_end = mac_end + 6 + (data[mac_end + 4] << 8 | data[mac_end + 5])
    if other_end != rdend:
        raise Malformed("TSIG other data does not end the record data")
    return Tsig(
        key=key,
        algorithm=algorithm,
        time_and_fudge=data[i : i + 8],
        original_id=data[mac_end : mac_end + 2],
        other=data[mac_end + 6 : other_end],
    )


def nsid_option(identity: str) -> bytes:
    """The NSID option carrying this server's identity (RFC 5001 §2.3)."""
    payload = identity.encode("ascii")
    return OPTION_NSID.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload


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
