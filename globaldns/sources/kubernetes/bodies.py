"""What the API's bytes say: a list page's records, a watch event's or error's JSON object.

Bodies are decoded straight into slim records; the client's model classes would cost far more
per event. A list of a kind with a `Decode` (the Services and EndpointSlices, 400,000 objects in
a first sync at 200 x 1,000) is decoded by msgspec item by item into structs; anything msgspec
will not read goes the way of every other body, `json` into dicts, so both read alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec

from globaldns.errors import GlobalDnsError

Strip = Callable[[dict[str, Any]], tuple[str, Any]]
# `Strip` of an object's bytes; raises msgspec.DecodeError for what only `Strip` can read.
Decode = Callable[[bytes], tuple[str, Any]]


class UndecodableBody(GlobalDnsError):
    """A body or event that is not JSON (or not a JSON object): a cut or garbled stream, counted
    as the network's."""


def page(raw: bytes, strip: Strip, decode: Decode | None = None) -> tuple[dict[str, Any], str, str]:
    """One page of a list: its records (skips left out), the continue token and the version."""
    if decode is not None and _utf8(raw):
        try:
            return _decoded_page(_LIST.decode(raw), decode, strip)
        except (msgspec.DecodeError, RecursionError):
            pass  # not what msgspec reads (NaN, nested past the stack...): `json` says what
    body = json_object(raw, "a list")
    records = {}
    items = body.get("items")
    for obj in items if isinstance(items, list) else ():
        if isinstance(obj, dict):
            key, record = strip(obj)
            if record is not None:
                records[key] = record
    meta = body.get("metadata")
    token = text(meta.get("continue")) if isinstance(meta, dict) else ""
    return records, token, resource_version(body)


def _utf8(raw: bytes) -> bool:
    """msgspec does not check the bytes of what it skips, where `json` refuses a body that is
    not UTF-8 anywhere; a page is mostly ASCII, which is quick to tell."""
    if raw.isascii():
        return True
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


class _ListMeta(msgspec.Struct, frozen=True, gc=False):
    resource_version: str = msgspec.field(name="resourceVersion", default="")
    token: str = msgspec.field(name="continue", default="")


class _List(msgspec.Struct, frozen=True, gc=False):
    """A list page, each item left as its bytes for the resource's `decode`."""

    metadata: _ListMeta = _ListMeta()
    items: list[msgspec.Raw] = []


_LIST = msgspec.json.Decoder(_List)


def _decoded_page(listed: _List, decode: Decode, strip: Strip) -> tuple[dict[str, Any], str, str]:
    records = {}
    for item in listed.items:
        try:
            key, record = decode(item)
        except msgspec.DecodeError:  # a value of the wrong type: read as every dict is
            obj = json.loads(bytes(item))  # JSON: msgspec has read it
            if not isinstance(obj, dict):
                continue
            key, record = strip(obj)
        if record is not None:
            records[key] = record
    return records, listed.metadata.token, listed.metadata.resource_version


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """The JSON object `raw` holds, or `UndecodableBody`."""
    try:
        decoded = json.loads(raw)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError: the bytes, not our code
        raise UndecodableBody(f"not JSON: {err}") from None
    except RecursionError:  # nested deeper than the interpreter's stack
        raise UndecodableBody("not JSON: nested too deep") from None
    if not isinstance(decoded, dict):
        raise UndecodableBody(f"{what} that is not a JSON object")
    return decoded


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def resource_version(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    return text(meta.get("resourceVersion")) if isinstance(meta, dict) else ""


def status_text(code: int, status: dict[str, Any]) -> str:
    reason = text(status.get("reason"))
    message = text(status.get("message"))
    return f"HTTP {code} {reason}: {message}".strip(": ")
