"""Our side of `globaldns compare`: the names a running globaldns holds and the ones it skips,
read from its admin `/table` page by page (continue tokens), as served.

Every request is bounded (a timeout, a page of at most `MAX_PAGE_BYTES`), the listing stops
at `max_names`, and a listing the server dropped meanwhile (410) is started again, at most
`RESTARTS` times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import aiohttp

from globaldns.config import host_port_text
from globaldns.errors import GlobalDnsError
from globaldns.sources.status import State
from globaldns.table.claims import ClaimKind

MAX_PAGE_BYTES = 16 << 20  # a page of 500 names is ~180 kB; a head of many skipped names more
RESTARTS = 3  # listings started again after a 410 before giving up
MAX_PAGES = 20_000  # 10 million names at 500 a page: past it a listing is not ending
PINNED_KINDS = frozenset({ClaimKind.CLUSTER_PIN.label, ClaimKind.REGION_PIN.label})


class CompareError(GlobalDnsError):
    """`globaldns compare` cannot read or ask what it needs; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Held:
    """A name our table serves, and what `/table` says of it."""

    name: str  # absolute, lower case: `foo.global.`
    kind: str  # entry, service, cluster-pinned, region-pinned
    tier: str
    reason: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A name our table saw and does not serve (a ServiceEntry host it skips, say), and why."""

    name: str
    reason: str  # the skipped-names counter's label: resolution_none, no_address, ...
    why: str


@dataclass(frozen=True)
class Listing:
    server: str  # the replica `/table` names
    held: tuple[Held, ...]
    skipped: tuple[Skipped, ...]
    truncated: bool  # stopped at max_names: the rest of the table was not read
    unsynced: tuple[str, ...] = ()  # `cluster (state)` of each cluster not synced: names missing


class _Expired(Exception):
    """The server dropped the listing between two pages (410): start again."""


async def read_listing(
    admin: tuple[str, int], max_names: int, pinned: bool, timeout: float
) -> Listing:
    """What the globaldns whose admin port is `admin` holds: at most `max_names` names (pinned
    names only when `pinned`), and every name it skips."""
    base = f"http://{host_port_text(*admin)}/table"
    session_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=session_timeout) as session:
        for _ in range(RESTARTS):
            try:
                return await _read(session, base, max_names, pinned)
            except _Expired:
                continue
    raise CompareError(f"{base} dropped its listing {RESTARTS} times in a row; try again")


async def _read(session: aiohttp.ClientSession, base: str, max_names: int, pinned: bool) -> Listing:
    held: list[Held] = []
    first = await _page(session, base)
    page, token = first, first.get("continue")
    for _ in range(MAX_PAGES):
        rows = _rows(page, base)
        for row in rows:
            if len(held) >= max_names:
                return _listing(first, held, base, truncated=True)
            if pinned or row.kind not in PINNED_KINDS:
                held.append(row)
        if not token:
            return _listing(first, held, base, truncated=False)
        if not rows:
            raise CompareError(f"{base}: a page without names names a next one; refused")
        page = await _page(session, f"{base}?continue={quote(str(token))}")
        token = page.get("continue")
    raise CompareError(f"{base}: the listing ran past {MAX_PAGES} pages; refused")


async def _page(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    try:
        async with session.get(url, allow_redirects=False) as response:
            status = response.status
            body = await _body(response, url)
    except (aiohttp.ClientError, TimeoutError) as err:
        raise CompareError(
            f"cannot read {url}: {err or type(err).__name__}; is globaldns's admin port there "
            "(--admin; `kubectl port-forward -n globaldns deploy/globaldns 9153`)?"
        ) from err
    if status == HTTPStatus.GONE:
        raise _Expired()
    if status != HTTPStatus.OK:
        said = body[:300].decode("utf-8", "replace").strip()
        raise CompareError(f"{url} answered {status}: {said}")
    try:
        document = json.loads(body)
    except ValueError as err:
        raise CompareError(f"{url} sent no JSON: {err}") from err
    if not isinstance(document, dict):
        raise CompareError(f"{url} sent JSON that is not a /table page")
    return document


async def _body(response: aiohttp.ClientResponse, url: str) -> bytes:
    """The whole body, refused once it passes `MAX_PAGE_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_PAGE_BYTES:
            raise CompareError(f"{url} sent a page over {MAX_PAGE_BYTES} bytes; refused")
        chunks.append(chunk)
    return b"".join(chunks)


def _rows(page: dict[str, Any], where: str) -> list[Held]:
    names = page.get("names")
    if not isinstance(names, list):
        raise CompareError(f"{where}: a page without a list of names")
    return [
        Held(_name(item, where), _text(item, "kind"), _text(item, "tier"), _text(item, "reason"))
        for item in names
    ]


def _listing(first: dict[str, Any], held: list[Held], where: str, truncated: bool) -> Listing:
    server = first.get("server")
    server_id = _text(server, "id") if isinstance(server, dict) else ""
    skipped = first.get("skipped", [])
    if not isinstance(skipped, list):
        raise CompareError(f"{where}: `skipped` is not a list")
    rows = tuple(
        Skipped(_name(item, where), _text(item, "reason"), _text(item, "why")) for item in skipped
    )
    clusters = first.get("clusters")
    unsynced = tuple(
        f"{_text(row, 'name')} ({_text(row, 'state')})"
        for row in (clusters if isinstance(clusters, list) else [])
        if _text(row, "state") != State.SYNCED
    )
    return Listing(server_id, tuple(held), rows, truncated, unsynced)


def _name(item: object, where: str) -> str:
    name = _text(item, "name").lower()
    if not name.endswith("."):
        raise CompareError(f"{where}: a row without an absolute name: {str(item)[:200]}")
    return name


def _text(item: object, key: str) -> str:
    value = item.get(key) if isinstance(item, dict) else None
    return value if isinstance(value, str) else ""
