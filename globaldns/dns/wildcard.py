"""Wildcard owners (`*.shard.global`, RFC 4592): one compiled node answers every name below.

A ServiceEntry host `*.shard` answers each name below `shard.global` that the zone does not
hold, at any depth, as NSD serves a `*` record: the closest encloser (the nearest existing
ancestor of the question) must be the wildcard's parent, so an existing name in between stops
it, and an exact name always wins. Every record's owner is a compression pointer to the
question (compile.py), so the wildcard's own address answers serve any name unchanged; only
NODATA differs, by where the SOA owner points, and the compiler shares those by length.

One addition NSD cannot make: an SRV question `_port._proto.X.shard.global` for a named port
of the entry answers the SRV of `X.shard.global` (target `X.shard.global`, lower-cased, its
addresses as additional data), as that name's would if it were spelled out; RFC 4592 has no
way to put the question's name in a record's data. Every other type at that name, SRV for an
unnamed port included, is the wildcard's (NODATA for SRV), as NSD answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from globaldns.dns.answer import Answer
from globaldns.dns.compile import Compiler, Node, Port, Tier
from globaldns.dns.wire import TYPE_SRV

WILDCARD_LABEL = b"\x01*"  # the first label of a wildcard owner, in wire form


def is_wildcard(name: str) -> bool:
    """Whether a dotted name is a wildcard owner (`*` as its whole first label)."""
    return name.startswith("*.")


class WildcardNode(dict[int, Answer]):
    """A wildcard owner's node (what `*.shard.global` itself answers), and what the names it
    synthesizes need beyond it: the SRV ports by their `_port._proto` labels, the groups of
    addresses and the tier their SRV answers compile from."""

    __slots__ = ("groups", "srv", "tier")

    def __init__(
        self,
        node: Node,
        srv: dict[bytes, Port],
        groups: Sequence[Sequence[str]],
        tier: Tier,
    ) -> None:
        super().__init__(node)
        self.srv = srv
        self.groups = groups
        self.tier = tier

    def answer(self, compiler: Compiler, owner: bytes, encloser: int, qtype: int) -> Answer:
        """The answer for `owner` (lower-cased wire), a name below the wildcard's parent that
        starts at `encloser` in it (the closest encloser)."""
        if qtype == TYPE_SRV and self.srv:
            second = owner[0] + 1
            target = second + owner[second] + 1
            port = self.srv.get(owner[:target]) if target < encloser else None
            if port is not None:
                node = compiler.srv_node(owner, owner[target:], port.port, self.groups, self.tier)
                return node[TYPE_SRV]
        return self.get(qtype) or compiler.nodata(owner, self.tier)


def wildcard_node(
    compiler: Compiler,
    name: str,
    groups: Sequence[Sequence[str]],
    ports: Iterable[Port],
    tier: Tier,
) -> dict[bytes, Node]:
    """The one node a wildcard name (relative to the zone) puts: its own owner's. The SRV
    names below it are synthesized per question (`WildcardNode.answer`), never put."""
    owner = compiler.owner(name)
    srv = {
        srv_owner[: len(srv_owner) - len(owner)]: port  # `\x05_http\x04_tcp`
        for srv_owner, port in compiler.srv_owners(name, ports)
    }
    node = WildcardNode(compiler.address_node(owner, groups, tier), srv, groups, tier)
    return {owner: node}


def closest_encloser(owner: bytes, bound: int, exists: Callable[[bytes], bool]) -> int:
    """Where, in `owner` (a name that does not exist), its nearest existing ancestor starts,
    looking no higher than its ancestor of `bound` bytes (one known to exist, say the apex)."""
    i = owner[0] + 1
    while len(owner) - i > bound and not exists(owner[i:]):
        i += owner[i] + 1
    return i
