"""The compiled zone: lower-cased wire names mapped to their precompiled answers per type.

The table writes it (`put`, `remove`) with nodes built by `compiler`, and may hold some names
only once asked for: the responder calls `on_miss` (set by the table) for a name `names` lacks.
The responder only reads it. Names that exist only as ancestors of others (empty non-terminals,
RFC 8020) are reference-counted here so that they answer NODATA exactly while a descendant
exists. A wildcard owner's node (`wildcard.WildcardNode`) answers, on the responder's miss path,
the names below its parent that exist nowhere else (`synthesized`, RFC 4592). The zone owns the
responder's memo and empties it whenever an answer may change.
"""

from __future__ import annotations

from collections.abc import Callable

from globaldns.dns.answer import Answer
from globaldns.dns.compile import NODATA as NODATA
from globaldns.dns.compile import WIRING_LABEL, Compiler, Node, chaos_nodes
from globaldns.dns.memo import Memo
from globaldns.dns.wildcard import WILDCARD_LABEL, WildcardNode, closest_encloser
from globaldns.dns.wire import nsid_option
from globaldns.dns.zone_config import ZoneConfig as ZoneConfig


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
        # A plain dict, so a lookup costs one C call; names held for later are `on_miss`'s.
        self.names: dict[bytes, Node] = {}
        # The node of a name `names` lacks, compiled on demand, or None: the table sets it.
        self.on_miss: Callable[[bytes], Node | None] = _nothing
        self.chaos = chaos_nodes(config.identity, config.version)
        self.nsid = nsid_option(config.identity) if config.identity is not None else b""
        # The responder's memo of recent UDP questions; any change to an answer empties it.
        self.memo = Memo()
        # parent (`shard.global` in wire form) -> the node of its wildcard `*.shard.global`
        self.wildcards: dict[bytes, WildcardNode] = {}
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
        self.memo.forget()

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
            self.memo.forget()

    # -- membership ----------------------------------------------------------------------
    def put(self, owner: bytes, node: Node) -> None:
        """Add or replace a name (lower-cased wire form, below the apex)."""
        self.memo.forget()
        if owner not in self._own:
            self._own.add(owner)
            for ancestor in self._ancestors_of(owner):
                held = self._ancestors.get(ancestor, 0)
                self._ancestors[ancestor] = held + 1
                if not held and ancestor not in self._own:
                    self.on_miss(ancestor)  # a name kept for later is put now, not hidden
                    if ancestor not in self._own:
                        self.names[ancestor] = self.compiler.empty_node(ancestor)
        self.names[owner] = node
        if isinstance(node, WildcardNode):
            self.wildcards[owner[len(WILDCARD_LABEL) :]] = node

    def remove(self, owner: bytes) -> None:
        if owner not in self._own:
            return
        self.memo.forget()
        self._own.discard(owner)
        if owner.startswith(WILDCARD_LABEL):
            self.wildcards.pop(owner[len(WILDCARD_LABEL) :], None)
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

    def synthesized(self, owner: bytes, qtype: int) -> Answer | None:
        """The answer a wildcard gives `owner` (lower-cased wire, in the zone, neither held
        nor held for later), or None when none covers it (`covering`)."""
        parent = self.covering(owner)
        if parent is None:
            return None
        wildcard = self.wildcards[owner[parent:]]
        return wildcard.answer(self.compiler, owner, parent, qtype)

    def covering(self, owner: bytes) -> int | None:
        """Where the parent of the wildcard answering `owner` (a name the zone lacks) starts in
        it, or None: RFC 4592, the wildcard of its closest encloser (a name held for later
        counts as existing: it is compiled now).

        The nearest wildcard parent above it is found first with plain lookups, so a name
        no wildcard is above costs no more; only the names between are asked about."""
        wildcards = self.wildcards
        end = len(owner) - len(self.wire)
        parent = owner[0] + 1
        while parent <= end and owner[parent:] not in wildcards:
            parent += owner[parent] + 1
        if parent > end:
            return None
        names = self.names
        on_miss = self.on_miss
        start = closest_encloser(
            owner,
            len(owner) - parent,
            lambda ancestor: ancestor in names or on_miss(ancestor) is not None,
        )
        return parent if start == parent else None  # an existing name in between stops it

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
