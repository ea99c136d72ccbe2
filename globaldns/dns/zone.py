"""The compiled zone: lower-cased wire names mapped to their precompiled answers per type.

The table writes it (`put`, `remove`) with nodes built by `compiler`, and may hold some names
only once asked for (`Names.on_miss`); the responder only reads it. Names that exist only as
ancestors of others (empty non-terminals, RFC 8020) are reference-counted here so that they
answer NODATA exactly while a descendant exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from globaldns.dns.compile import NODATA as NODATA
from globaldns.dns.compile import WIRING_LABEL, Answer, Compiler, Node, chaos_nodes
from globaldns.dns.wire import nsid_option

if TYPE_CHECKING:
    from globaldns.dns.responder import Recent


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    zone: str = "global"
    ttl: int = 5
    nameserver: str = "globaldns.globaldns.svc.cluster.local"
    hostmaster: str = "hostmaster"
    max_answers: int | None = None
    # The cluster this server runs in, in the reserved name's TXT record (compile.wiring_text).
    cluster_id: str = ""
    # What CH TXT id.server/hostname.bind and NSID say, and version.bind; None: hidden.
    identity: str | None = None
    version: str | None = None
    # What a ServiceEntry without addresses answers (--default-address); none: it is not named.
    default_addresses: tuple[str, ...] = ()


class Names(dict[bytes, Node]):
    """The zone's names by lower-cased wire owner; one not held is asked of `on_miss`.

    So names that are many and rarely asked for (pinned to a cluster or region) need not be
    held at all: `on_miss` compiles one on its first query and puts it in. `get` and `[]` ask;
    `in` and iteration see only what is held.
    """

    __slots__ = ("on_miss",)

    def __init__(self) -> None:
        super().__init__()
        self.on_miss: Callable[[bytes], Node | None] = _nothing

    def get(self, owner: bytes, default: Node | None = None) -> Node | None:  # type: ignore[override]
        node = dict.get(self, owner)
        if node is None:
            node = self.on_miss(owner)
        return default if node is None else node

    def __missing__(self, owner: bytes) -> Node:
        node = self.on_miss(owner)
        if node is None:
            raise KeyError(owner)
        return node


def _nothing(owner: bytes) -> None:
    return None


class Zone:
    """Names of one zone and their answers; `names` is what the responder looks up."""

    def __init__(self, config: ZoneConfig) -> None:
        self.config = config
        # 1 until the table first changes it (`set_serial`, from the data's change time).
        self.serial = 1
        self.compiler = Compiler(config, self.serial)
        self.wire = self.compiler.wire
        self.names = Names()
        self.chaos = chaos_nodes(config.identity, config.version)
        self.nsid = nsid_option(config.identity) if config.identity is not None else b""
        # The responder's memo of recent UDP questions; any change to the names empties it.
        self.recent: dict[bytes, Recent] = {}
        self._ancestors: dict[bytes, int] = {}
        self._own: set[bytes] = set()
        self.names[self.wire] = self.compiler.apex_node()
        self.complete = True
        reserved = self.compiler.owner(WIRING_LABEL)
        self.put(reserved, self.compiler.wiring_node(reserved))

    def set_serial(self, serial: int) -> None:
        """Write a new SOA serial into every answer holding the SOA; forgets remembered
        replies (theirs hold the old one)."""
        self.serial = serial
        self.compiler.set_serial(serial)
        self.names[self.wire] = self.compiler.apex_node()
        self.recent.clear()

    def missing(self, zone_offset: int) -> Answer:
        """The answer for a name in the zone that the table does not hold.

        NXDOMAIN, or SERVFAIL while the table is incomplete: a cluster that never synced may
        hold the name, and NXDOMAIN would be cached as "does not exist" (SPEC §4).
        """
        if self.complete:
            return self.compiler.nxdomain(zone_offset)
        return self.compiler.servfail()

    def set_complete(self, complete: bool) -> None:
        """Switch between SERVFAIL and NXDOMAIN for missing names; forgets remembered replies."""
        if complete != self.complete:
            self.complete = complete
            self.recent.clear()

    # -- membership ----------------------------------------------------------------------
    def put(self, owner: bytes, node: Node) -> None:
        """Add or replace a name (lower-cased wire form, below the apex)."""
        self.recent.clear()
        if owner not in self._own:
            self._own.add(owner)
            for ancestor in self._ancestors_of(owner):
                held = self._ancestors.get(ancestor, 0)
                self._ancestors[ancestor] = held + 1
                if not held and ancestor not in self._own:
                    self.names.on_miss(ancestor)  # a name kept for later is put now, not hidden
                    if ancestor not in self._own:
                        self.names[ancestor] = self.compiler.empty_node(ancestor)
        self.names[owner] = node

    def remove(self, owner: bytes) -> None:
        if owner not in self._own:
            return
        self.recent.clear()
        self._own.discard(owner)
        for ancestor in self._ancestors_of(owner):
            held = self._ancestors[ancestor] - 1
            if held:
                self._ancestors[ancestor] = held
            else:
                del self._ancestors[ancestor]
                if ancestor not in self._own:
                    del self.names[ancestor]
        if owner in self._ancestors:
            self.names[owner] = self.compiler.empty_node(owner)
        else:
            del self.names[owner]

    def is_ancestor(self, owner: bytes) -> bool:
        """Whether a name below `owner` is held (so `owner` answers at least NODATA)."""
        return owner in self._ancestors

    def _ancestors_of(self, owner: bytes) -> list[bytes]:
        """Names strictly between `owner` and the apex: its empty non-terminals, if nothing else."""
        out: list[bytes] = []
        i = owner[0] + 1
        while len(owner) - i > len(self.wire):
            out.append(owner[i:])
            i += owner[i] + 1
        return out

    def contains(self, owner: bytes) -> bool:
        """Whether a lower-cased wire name is at or below the apex, on a label boundary."""
        return owner.endswith(self.wire) and _is_label_boundary(owner, len(owner) - len(self.wire))


def _is_label_boundary(owner: bytes, offset: int) -> bool:
    i = 0
    while i < offset:
        i += owner[i] + 1
    return i == offset
