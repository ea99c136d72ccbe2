"""The Corefile edits of `install` and `uninstall`, as text splices that leave other bytes alone.

`wire` makes the Corefile forward the zone to globaldns through exactly one managed block, marked
by a `# globaldns:` comment line; `unwire` takes it out again. The rules are in README.md.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from itertools import pairwise

from globaldns.errors import GlobalDnsError
from globaldns.install.corefile import (
    Corefile,
    CorefileError,
    ServerBlock,
    fqdn,
    parse,
)

MARKER_PREFIX = "# globaldns:"
DEFAULT_INDENT = "    "
DEFAULT_CACHE_TTL = 5
# Any valid address does to compare two wirings outside their managed blocks (RFC 5737).
_PROBE_ADDRESS = "192.0.2.1"


class AddressError(GlobalDnsError, ValueError):
    """The address to forward to is missing or unusable; CoreDNS must never get such a forward."""


@dataclass(frozen=True, slots=True)
class Unwired:
    """The result of `unwire`: the new text, whether it is the saved original, and what happened."""

    text: str
    restored_exactly: bool
    message: str


@dataclass(frozen=True, slots=True)
class Style:
    """How the file writes itself: its line ending and one level of indentation."""

    eol: str
    indent: str


def marker(zone: str) -> str:
    return f"{MARKER_PREFIX} forwards {fqdn(zone)} to globaldns"


def server_address(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The globaldns Service address, or `AddressError` saying why it cannot be used."""
    if address is None or not address.strip() or address.strip() == "None":
        raise AddressError(
            "no address to forward to: the globaldns Service has no ClusterIP yet (or is "
            "headless); wait until `kubectl -n globaldns get svc globaldns` shows one"
        )
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        raise AddressError(
            f"{address!r} is not an IPv4 or IPv6 address; give the globaldns Service's ClusterIP "
            "without a port (globaldns always answers on 53)"
        ) from None
    if ip.is_unspecified or ip.is_loopback or ip.is_multicast:
        raise AddressError(
            f"{address!r} cannot be forwarded to from CoreDNS (unspecified, loopback or "
            "multicast); give the globaldns Service's ClusterIP"
        )
    return ip


def forward_target(address: str | None) -> str:
    """`forward` argument for the globaldns Service address: ``10.0.0.5:53``, ``[fd00::5]:53``."""
    ip = server_address(address)
    return f"[{ip}]:53" if ip.version == 6 else f"{ip}:53"


def wire(
    corefile: str,
    address: str | None,
    zone: str = "global",
    ttl: int = DEFAULT_CACHE_TTL,
    node_local: bool = False,
) -> str:
    """The Corefile with `zone` forwarded to globaldns at `address`; unchanged if already so.

    `node_local`: the Corefile is NodeLocal DNSCache's, whose blocks listen only where the main
    block's `bind` says (the node-local address, kept as its `__PILLAR__` placeholders) and
    forward over TCP (`force_tcp`, against conntrack races): ours does the same.

    Raises `AddressError` for a bad address and `CorefileError` for a file it cannot edit safely.
    """
    target = forward_target(address)
    if ttl < 1:
        raise ValueError(f"cache TTL must be at least 1 second, got {ttl}")
    if fqdn(zone) == ".":
        raise ValueError("the zone to wire must not be the root zone; use e.g. `global`")
    parsed = parse(corefile)
    port = parsed.dns_port()
    serving = parsed.blocks_serving(zone, port)
    keys = [key for block in serving for key in block.keys if key.serves(zone, port)]
    if len(keys) > 1:
        raise CorefileError(
            keys[1].token.line,
            f"{fqdn(zone)}:{port} is named by {len(keys)} server block keys "
            f"({', '.join(key.token.text for key in keys)}), which CoreDNS refuses",
            "delete all but one of them, then run install again",
        )
    replace = bool(serving) and len(serving[0].keys) == 1
    if replace or not serving:
        kept = parsed
    else:  # the style is read from what the next run will see: the block without the zone
        kept = _checked(parsed, _drop_zone_key(corefile, serving[0], zone, port), zone, port)
    style = detect_style(kept, zone)
    bind = _main_bind(parsed) if node_local else None
    rendered = render_block(zone, port, target, ttl, style, bind, force_tcp=node_local)
    if replace:
        wired = _replace_block(corefile, serving[0], rendered, style.eol)
    else:
        wired = _append(kept.text, rendered, style.eol)
    return _checked(parsed, wired, zone, port).text


def unwire(current: str, previous: str | None, zone: str = "global") -> Unwired:
    """Undo `wire`: `previous` itself when only our block changed, else just our block removed.

    `previous` is the Corefile saved at install time. If `current` is exactly what wiring
    `previous` gives (whatever address or TTL our block holds), `previous` comes back byte for
    byte. Otherwise someone edited the file since: only the managed block goes, replaced by the
    block `previous` had for the zone if it had one of its own, so their edits survive.
    """
    parsed = parse(current)
    ours = managed_block(parsed, zone)
    if ours is None:
        return Unwired(current, False, f"no block managed by globaldns for {fqdn(zone)}; unchanged")
    if previous is not None and _outside(current, ours) == _wired_outside(previous, zone):
        return Unwired(previous, True, "restored the Corefile saved at install time")
    start, end = managed_span(current, ours)
    old = _own_block(previous, zone) if previous is not None else None
    if old is not None:
        text = current[:start] + old + current[end:]
        return Unwired(text, False, _edited(f"put back the {fqdn(zone)} block it had before"))
    what = "removed only the globaldns block"
    if previous is not None and _shared_block(previous, zone):
        what += f"; {fqdn(zone)} was also a key of another block before install: add it back"
    return Unwired(_cut(current, start, end), False, _edited(what))


def _edited(what: str) -> str:
    return f"the Corefile was edited after install, so it was not restored; {what}"


def managed_block(parsed: Corefile, zone: str) -> ServerBlock | None:
    """The block serving `zone` whose line is directly under a `# globaldns:` marker line."""
    for block in parsed.blocks_serving(zone):
        if _marker_start(parsed.text, block) is not None:
            return block
    return None


def managed_span(text: str, block: ServerBlock) -> tuple[int, int]:
    """Offsets of a block with its marker line and indentation: what `wire` writes."""
    start = _marker_start(text, block)
    if start is None:
        start = _block_line_start(text, block)
    return start, block.end


def detect_style(parsed: Corefile, zone: str) -> Style:
    """The first line ending, and the indentation of the first plugin on its own line.

    Blocks for `zone` are skipped so that wiring never changes the style it detects next time
    (`wire` reads a block that serves other zones too as it will be: without the zone's key). A
    file without a line feed that ends in `\r` has begun a CRLF, which our block completes.
    """
    text = parsed.text
    newline = text.find("\n")
    if newline < 0:
        eol = "\r\n" if text.endswith("\r") else "\n"
    else:
        eol = "\r\n" if newline > 0 and text[newline - 1] == "\r" else "\n"
    for block in parsed.servers:
        if block.serves(zone, parsed.dns_port()):
            continue
        outer = _indentation(text, block.start)
        for directive in block.directives:
            inner = _indentation(text, directive.name.start)
            if directive.name.first_on_line and inner.startswith(outer) and inner != outer:
                return Style(eol, inner.removeprefix(outer))
    return Style(eol, DEFAULT_INDENT)


def render_block(
    zone: str,
    port: int,
    target: str,
    ttl: int,
    style: Style,
    bind: str | None = None,
    force_tcp: bool = False,
) -> list[str]:
    """The lines of our block, marker first, without line endings."""
    key = fqdn(zone).removesuffix(".")
    plugins = ["errors", f"cache {ttl}", *([f"bind {bind}"] if bind else [])]
    if force_tcp:
        plugins += [f"forward . {target} {{", f"{style.indent}force_tcp", "}"]
    else:
        plugins.append(f"forward . {target}")
    return [marker(zone), f"{key}:{port} {{", *(style.indent + p for p in plugins), "}"]


def _main_bind(parsed: Corefile) -> str | None:
    """The main block's `bind` arguments as written (None: it has none)."""
    main = parsed.main_block()
    for directive in main.directives if main is not None else ():
        if directive.name.text == "bind" and directive.args:
            words = [arg.text for arg in directive.args]
            return " ".join(words[: words.index("{")] if "{" in words else words) or None
    return None


def _replace_block(text: str, block: ServerBlock, rendered: list[str], eol: str) -> str:
    """Put our block where the existing one is, keeping its indentation and everything around."""
    start, end = managed_span(text, block)
    indent = _indentation(text, block.start)
    if text[text.rfind("\n", 0, block.start) + 1 : block.start].strip():
        indent, rendered = "", ["", *rendered]
    return text[:start] + eol.join(indent + line if line else "" for line in rendered) + text[end:]


def _append(text: str, rendered: list[str], eol: str) -> str:
    """Our block at the end, after a blank line, on its own lines; the old text stays a prefix."""
    head = text
    if head and not head.endswith("\n"):
        head += "\n" if head.endswith("\r") else eol
    if head.strip() and not head.removesuffix(eol).endswith("\n"):
        head += eol
    return head + eol.join(rendered) + eol


def _drop_zone_key(text: str, block: ServerBlock, zone: str, port: int) -> str:
    """Remove `zone` from a block that serves several zones, keeping the other keys' text.

    The keys are rewritten as one run, so a comment between them would be lost: refused.
    """
    first, last = block.keys[0].token, block.keys[-1].token
    between = [text[a.token.end : b.token.start] for a, b in pairwise(block.keys)]
    if any(gap.strip() for gap in between):
        raise CorefileError(
            first.line,
            f"taking {fqdn(zone)} out of the block `{_key_list(block)}` would drop the comment "
            "between its keys",
            f"move the comment above the block, or give {fqdn(zone)} a block of its own",
        )
    separator = ", " if any(key.token.text.endswith(",") for key in block.keys) else " "
    kept = [
        text[key.token.start : key.token.end].rstrip(",")
        for key in block.keys
        if not key.serves(zone, port)
    ]
    return text[: first.start] + separator.join(kept) + text[last.end :]


def _checked(original: Corefile, wired: str, zone: str, port: int) -> Corefile:
    """`wired` parsed: the guard on every edit, and the last before a Corefile is written.

    An edit that CoreDNS or `unwire` could not read back (a key left as a lone `,`, say) is
    refused, naming the block it would have broken, and the cluster keeps its file.
    """
    try:
        return parse(wired)
    except CorefileError as err:
        line = next(
            (block.keys[0].token.line for block in original.blocks_serving(zone, port)), err.line
        )
        raise CorefileError(
            line,
            f"wiring {fqdn(zone)} here would leave a Corefile that does not parse ({err.problem})",
            f"give {fqdn(zone)} a block of its own by hand, then run install again",
        ) from None


def _key_list(block: ServerBlock) -> str:
    return " ".join(key.token.text for key in block.keys)


def _outside(text: str, block: ServerBlock) -> str:
    start, end = managed_span(text, block)
    return text[:start] + text[end:]


def _wired_outside(previous: str, zone: str) -> str | None:
    """What wiring `previous` leaves outside the managed block; None if it cannot be wired."""
    try:
        wired = parse(wire(previous, _PROBE_ADDRESS, zone))
    except (CorefileError, AddressError):
        return None
    block = managed_block(wired, zone)
    return None if block is None else _outside(wired.text, block)


def _own_block(previous: str, zone: str) -> str | None:
    """The text of the block `previous` had for `zone` alone (an istiocoredns one, say)."""
    try:
        parsed = parse(previous)
    except CorefileError:
        return None
    blocks = [block for block in parsed.blocks_serving(zone) if len(block.keys) == 1]
    if len(blocks) != 1:
        return None
    start, end = managed_span(previous, blocks[0])
    return previous[start:end]


def _shared_block(previous: str, zone: str) -> bool:
    """Whether `previous` served `zone` from a block that serves other zones too."""
    try:
        return any(len(block.keys) > 1 for block in parse(previous).blocks_serving(zone))
    except CorefileError:
        return False


def _cut(text: str, start: int, end: int) -> str:
    """Remove [start, end) with its line ending, and the blank line before it at end of file."""
    newline = text.find("\n", end)
    end = len(text) if newline < 0 or text[end:newline].strip() else newline + 1
    if not text[end:].strip():
        before = text[:start]
        for blank in ("\r\n", "\n"):
            if before.endswith("\n" + blank):
                start -= len(blank)
                break
    return text[:start] + text[end:]


def _indentation(text: str, offset: int) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    lead = text[line_start:offset]
    return lead if not lead.strip() else ""


def _block_line_start(text: str, block: ServerBlock) -> int:
    line_start = text.rfind("\n", 0, block.start) + 1
    return line_start if not text[line_start : block.start].strip() else block.start


def _marker_start(text: str, block: ServerBlock) -> int | None:
    """Start of the marker line right above `block`, if there is one."""
    line_start = text.rfind("\n", 0, block.start) + 1
    if line_start == 0 or text[line_start : block.start].strip():
        return None
    previous_start = text.rfind("\n", 0, line_start - 1) + 1
    if text[previous_start:line_start].strip().startswith(MARKER_PREFIX):
        return previous_start
    return None
