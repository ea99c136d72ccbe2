"""The wire answers of `clusterset.local` names: `names.Owner`s compiled with the zone's
compiler, the SRV answers whose targets are other names (per-pod names of a headless service),
and `dns-version`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from globaldns.dns.answer import Answer, Sections
from globaldns.dns.compile import NODATA, Compiler, Node, Tier
from globaldns.dns.records import address_data, address_rdata, record, srv_rdata
from globaldns.dns.wire import CLASS_IN, HEADER_LEN, TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_SRV, TYPE_TXT
from globaldns.table.clusterset.names import Owner, Srv

# KEP-1645's ClusterSet DNS specification: the schema version a client can ask for.
VERSION_LABEL = "dns-version"
SCHEMA_VERSION = b"1.0.0"


def owner_nodes(compiler: Compiler, owners: Sequence[Owner]) -> dict[bytes, Node]:
    """Every node the names of one service put."""
    groups = {o.name: o.view.groups for o in owners if o.view is not None}
    nodes: dict[bytes, Node] = {}
    for owner in owners:
        wire = compiler.owner(owner.name)
        if owner.view is not None:
            nodes[wire] = compiler.address_node(wire, address_data(owner.view.groups), owner.tier)
        else:
            nodes[wire] = _srv_node(compiler, wire, owner.srv, groups, owner.tier)
    return nodes


def _srv_node(
    compiler: Compiler,
    owner: bytes,
    srvs: Sequence[Srv],
    groups: Mapping[str, Sequence[Sequence[str]]],
    tier: Tier,
) -> Node:
    """SRV records to other names of the zone, their addresses as additional data (A then
    AAAA per target, in the records' order; cut by whole RRsets when they do not fit)."""
    ttl = compiler.config.ttl
    zone = compiler.config.zone
    records = [
        record(HEADER_LEN, TYPE_SRV, ttl, srv_rdata(srv.port, f"{srv.target}.{zone}."))
        for srv in srvs
    ]
    additional: list[list[bytes]] = []
    for target in dict.fromkeys(srv.target for srv in srvs):
        wire = compiler.owner(target)
        by_type: dict[int, list[bytes]] = {TYPE_A: [], TYPE_AAAA: []}
        for group in groups.get(target, ()):
            for address in group:
                rtype, rdata = address_rdata(address)
                by_type[rtype].append(_named_record(wire, rtype, ttl, rdata))
        additional.extend(rrset for rrset in by_type.values() if rrset)
    answer = Answer(Sections.build(records, additional=additional), tier)
    return {NODATA: compiler.nodata(owner, tier), TYPE_SRV: answer, TYPE_ANY: answer}


def _named_record(owner: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    """A record whose owner is written out (it is not in the question to point at)."""
    head = rtype.to_bytes(2, "big") + CLASS_IN.to_bytes(2, "big") + ttl.to_bytes(4, "big")
    return owner + head + len(rdata).to_bytes(2, "big") + rdata


def version_node(compiler: Compiler) -> Node:
    """`dns-version` TXT "1.0.0", also its ANY answer (as NSD answers a TXT-only name)."""
    owner = compiler.owner(VERSION_LABEL)
    rdata = bytes((len(SCHEMA_VERSION),)) + SCHEMA_VERSION
    answer = Answer(Sections.build([record(HEADER_LEN, TYPE_TXT, compiler.config.ttl, rdata)]),
                    Tier.APEX)  # fmt: skip
    return {TYPE_TXT: answer, TYPE_ANY: answer, NODATA: compiler.nodata(owner, Tier.APEX)}
