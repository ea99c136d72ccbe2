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

from globaldns.dns.answer import Answer, Sections
from globaldns.dns.compile import Compiler, Node, Port, Tier
from globaldns.dns.records import address_data
from globaldns.dns.wire import TYPE_SRV

WILDCARD_LABEL = b"\x01*"  # the first label of a wildcard owner, in wire form


def is_wildcard(name: str) -> bool:
    """Whether a dotted name is a wildcard owner (`*` as its whole first label)."""
    return name.startswith("*.")


class WildcardNode(dict[int, Answer]):
    """A wildcard owner's node (what `*.shard.global` itself answers), and what the names it
    synthesizes need beyond it: per `_port._proto` labels, the SRV answer of the `*` owner,
    whose target is swapped for the name asked (`_retargeted`), and the tier."""

    __slots__ = ("owner_length", "srv", "tier")

    def __init__(self, node: Node, owner_length: int, srv: dict[bytes, Sections], tier: Tier):
        super().__init__(node)
        self.owner_length = owner_length  # the `*` owner's, the SRV templates' target
        self.srv = srv
        self.tier = tier

    def answer(self, compiler: Compiler, owner: bytes, encloser: int, qtype: int) -> Answer:
        """The answer for `owner` (lower-cased wire), a name below the wildcard's parent that
        starts at `encloser` in it (the closest encloser)."""
        if qtype == TYPE_SRV and self.srv:
            second = owner[0] + 1
            target = second + owner[second] + 1
            template = self.srv.get(owner[:target]) if target < encloser else None
            if template is not None:
                retargeted = _retargeted(template, self.owner_length, owner[target:])
                return Answer(retargeted, self.tier)
        return self.get(qtype) or compiler.nodata(owner, self.tier)


def _retargeted(template: Sections, old_length: int, target: bytes) -> Sections:
    """`template` (an SRV record first, targeting a name `old_length` bytes long in wire
    form, uncompressed) with the target `target` instead, in wire form as asked: no text
    round trip, so any label a question can hold is carried as it came (lower-cased)."""
    srv = template.body[: _SRV_FIXED + old_length]
    rdata = srv[_RDATA : _RDATA + _SRV_FIELDS] + target
    new = srv[: _RDATA - 2] + len(rdata).to_bytes(2, "big") + rdata
    fallback = template.without_additional
    return Sections(
        template.head,
        template.edns_head,
        new + template.body[len(srv) :],
        None if fallback is None else _retargeted(fallback, old_length, target),
    )


_RDATA = 12  # a record's data starts after its owner pointer, type, class, TTL and length
_SRV_FIELDS = 6  # priority, weight, port
_SRV_FIXED = _RDATA + _SRV_FIELDS  # an SRV record's bytes before its target


def wildcard_node(
    compiler: Compiler,
    name: str,
    groups: Sequence[Sequence[str]],
    ports: Iterable[Port],
    tier: Tier,
) -> dict[bytes, Node]:
    """The one node a wildcard name (relative to the zone) puts: its own owner's. The SRV
    names below it are answered per question (`WildcardNode.answer`) from the SRV the `*`
    owner would have (`_port._proto.*.shard.global`, never put), whose additional data
    already points where the name asked will be in the question."""
    owner = compiler.owner(name)
    data = address_data(groups)
    srv_nodes = compiler.srv_nodes(owner, compiler.srv_owners(name, ports), data, tier)
    srv = {
        srv_owner[: len(srv_owner) - len(owner)]: node[TYPE_SRV].sections
        for srv_owner, node in srv_nodes.items()
    }
    node = WildcardNode(compiler.address_node(owner, data, tier), len(owner), srv, tier)
    return {owner: node}


def closest_encloser(owner: bytes, bound: int, exists: Callable[[bytes], bool]) -> int:
    """Where, in `owner` (a name that does not exist), its nearest existing ancestor starts,
    looking no higher than its ancestor of `bound` bytes (one known to exist, say the apex)."""
    i = owner[0] + 1
    while len(owner) - i > bound and not exists(owner[i:]):
        i += owner[i] + 1
    return i
