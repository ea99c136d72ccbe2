"""Views of the resolved table: a text table for people, JSON for /table, a zone file for NSD."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from globaldns.dns.compile import soa_fields, srv_names
from globaldns.table.claims import ClaimKind
from globaldns.table.table import NameView, Table


def _fqdn(name: str, zone: str) -> str:
    return f"{name}.{zone}."


def as_json(views: Iterable[NameView], zone: str) -> list[dict[str, object]]:
    return [
        {
            "name": _fqdn(view.name, zone),
            "kind": view.kind.label,
            "tier": view.tier.label,
            "clusters": list(view.clusters),
            "addresses": list(view.addresses),
            "ports": [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in view.ports],
            "reason": view.reason,
        }
        for view in views
    ]


def as_text(views: Iterable[NameView], zone: str) -> str:
    rows = [("NAME", "TYPE", "TIER", "CLUSTERS", "ADDRESSES", "WHY")]
    for view in views:
        tier = view.tier.label
        if view.kind not in (ClaimKind.SERVICE, ClaimKind.ENTRY):
            tier += f" ({view.kind.label})"
        for rtype, addresses in _by_type(view.addresses):
            rows.append(
                (
                    _fqdn(view.name, zone),
                    rtype,
                    tier,
                    ",".join(view.clusters) or "-",
                    ",".join(addresses),
                    view.reason,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        + "\n"
        for row in rows
    )


def as_zone(table: Table) -> str:
    """A zone file with the same records the server answers (one rotation, all records)."""
    config = table.config
    zone = config.zone
    mname, rname, values = soa_fields(config, table.zone.serial)
    lines = [
        f"$ORIGIN {zone}.",
        f"$TTL {config.ttl}",
        f"@ IN SOA {mname} {rname} {' '.join(map(str, values))}",
        f"@ IN NS {config.nameserver}.",
    ]
    for view in table.views():
        for rtype, addresses in _by_type(view.addresses):
            lines.extend(f"{view.name} IN {rtype} {address}" for address in addresses)
        lines.extend(
            f"{srv_name} IN SRV 0 100 {port.port} {_fqdn(view.name, zone)}"
            for srv_name, port in srv_names(view.name, view.ports)
        )
    return "\n".join(lines) + "\n"


def _by_type(addresses: Iterable[str]) -> list[tuple[str, list[str]]]:
    v4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
    v6 = [a for a in addresses if ipaddress.ip_address(a).version == 6]
    return [(rtype, group) for rtype, group in (("A", v4), ("AAAA", v6)) if group]
