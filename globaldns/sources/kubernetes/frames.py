"""The watch process's pipe: typed messages in length-prefixed frames, both ways.

The watch process (worker.py) tells the serving process what its Outbox would have been told:
the table's slim records (Cluster, Instance, Entry, Export, the local namespaces) and each
cluster's state, plus a heartbeat.
The serving process starts a new watch process with what the table holds (`Held`), so it
resumes clusters instead of starting them afresh. Every frame is a 4-byte big-endian length,
then a msgpack array of messages, each checked against its type on decoding: a frame that
does not decode is refused whole (`BadFrame`) and the stream goes on at the next frame; a
length over `MAX_FRAME` means the stream cannot be trusted to be in step (`FrameTooLarge`).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import msgspec

from globaldns.config.common import LogSettings
from globaldns.errors import GlobalDnsError
from globaldns.sources.kubernetes.options import KubeSettings
from globaldns.sources.status import State
from globaldns.table.model import Cluster, Entry, Export, Instance

MAX_FRAME = 1 << 20  # bytes: a frame announced larger is refused, and the stream with it
# Bytes a batch is split below: the serving loop decodes one frame per turn (some 2 ms).
FRAME_TARGET = 64 << 10
LENGTH = struct.Struct(">I")


class FrameError(GlobalDnsError):
    """Bytes on the watch process's pipe that are not a frame of known messages."""


class BadFrame(FrameError):
    """A frame whose messages do not decode: refused whole, the stream stays in step."""


class FrameTooLarge(FrameError):
    """A length past the bound: the stream is out of step or garbage; nothing after is read."""


# -- the watch process's side: what an Outbox is told ------------------------------------------
class PutCluster(msgspec.Struct, tag="cluster", array_like=True, frozen=True):
    cluster: Cluster


class PutInstance(msgspec.Struct, tag="instance", array_like=True, frozen=True):
    cluster: str
    key: str
    instance: Instance | None


class PutEntry(msgspec.Struct, tag="entry", array_like=True, frozen=True):
    cluster: str
    key: str
    entry: Entry | None


class PutExport(msgspec.Struct, tag="export", array_like=True, frozen=True):
    cluster: str
    key: str
    export: Export | None


class PutNamespaces(msgspec.Struct, tag="namespaces", array_like=True, frozen=True):
    namespaces: frozenset[str] | None


class DropCluster(msgspec.Struct, tag="drop", array_like=True, frozen=True):
    cluster: str
    forget: bool = False


Change = PutCluster | PutInstance | PutEntry | PutExport | PutNamespaces | DropCluster


class Together(msgspec.Struct, tag="together", array_like=True, frozen=True):
    """Changes applied in one turn (a new connection's data replacing the old)."""

    cluster: str
    changes: list[Change]


class SetState(msgspec.Struct, tag="state", array_like=True, frozen=True):
    cluster: str
    state: State
    error: str = ""
    errors: int = 0


class SetNext(msgspec.Struct, tag="next", array_like=True, frozen=True):
    cluster: str
    state: State | None
    error: str = ""


class Refuse(msgspec.Struct, tag="refuse", array_like=True, frozen=True):
    cluster: str
    error: str
    reason: str


class Unrefuse(msgspec.Struct, tag="unrefuse", array_like=True, frozen=True):
    cluster: str


class Heartbeat(msgspec.Struct, tag="heartbeat", array_like=True, frozen=True):
    """Sent every second: the process's loop turns, and what the serving side reads of it."""

    bugs: int  # objects a strip failed on, and client loaders that raised: bugs, counted
    remotes_known: bool  # the remote Secrets were listed once
    duplicate_secrets: int
    ages: dict[str, float]  # cluster -> seconds since its data was last proved current


Report = Change | Together | SetState | SetNext | Refuse | Unrefuse | Heartbeat


# -- the serving process's side: what the table holds of each cluster --------------------------
class Held(msgspec.Struct, tag="held", array_like=True, frozen=True):
    """What the table holds of one cluster, and its state, when a new watch process starts;
    a large cluster comes in several (`instances`, `entries` and `exports` add up)."""

    cluster: str
    state: State
    synced_once: bool
    stale_for: float | None  # seconds its stale window has left (None: not stale)
    record: Cluster | None = None
    instances: dict[str, Instance] = {}
    entries: dict[str, Entry] = {}
    exports: dict[str, Export] = {}


@dataclass(frozen=True)
class Start:
    """The first frame to a watch process: pickled, as it comes from the process that
    started it (never from a cluster)."""

    settings: KubeSettings
    logs: LogSettings


class Begin(msgspec.Struct, tag="begin", array_like=True, frozen=True):
    """After the held data: the watch process may start watching."""


Order = Held | Begin

_encoder = msgspec.msgpack.Encoder()
_reports = msgspec.msgpack.Decoder(list[Report])
_orders = msgspec.msgpack.Decoder(list[Order])


def frames(messages: Sequence[Report | Order]) -> Iterator[bytes]:
    """The messages as frames of about FRAME_TARGET bytes (a batch larger is halved), never
    over MAX_FRAME."""
    payload = _encoder.encode(messages)
    if len(payload) <= FRAME_TARGET or (len(messages) == 1 and len(payload) <= MAX_FRAME):
        yield LENGTH.pack(len(payload)) + payload
        return
    if len(messages) == 1:
        raise FrameTooLarge(f"one message of {len(payload)} bytes; the bound is {MAX_FRAME}")
    half = len(messages) // 2
    yield from frames(messages[:half])
    yield from frames(messages[half:])


def decode_reports(payload: bytes) -> list[Report]:
    try:
        return _reports.decode(payload)
    except msgspec.DecodeError as err:  # ValidationError included: a wrong type or tag
        raise BadFrame(f"a frame of {len(payload)} bytes refused: {err}") from None


def decode_orders(payload: bytes) -> list[Order]:
    try:
        return _orders.decode(payload)
    except msgspec.DecodeError as err:
        raise BadFrame(f"a frame of {len(payload)} bytes refused: {err}") from None


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """One frame's payload; None at the end of the stream (the other process went away)."""
    try:
        head = await reader.readexactly(LENGTH.size)
    except asyncio.IncompleteReadError:
        return None
    (length,) = LENGTH.unpack(head)
    if length > MAX_FRAME:
        raise FrameTooLarge(f"a frame announced as {length} bytes; the bound is {MAX_FRAME}")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None


def read_frame_from(stream: BinaryIO) -> bytes | None:
    """As `read_frame`, from a blocking stream (the watch process's stdin, before its loop)."""
    head = stream.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    (length,) = LENGTH.unpack(head)
    if length > MAX_FRAME:
        raise FrameTooLarge(f"a frame announced as {length} bytes; the bound is {MAX_FRAME}")
    payload = stream.read(length)
    return payload if len(payload) == length else None
