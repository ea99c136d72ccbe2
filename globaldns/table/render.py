"""Views of the resolved table: a text table for people, JSON for /table, a zone file for NSD
(of `global.`, and of the clusterset zone)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from globaldns.dns.compile import soa_fields, srv_names
from globaldns.dns.wildcard import is_wildcard
from globaldns.dns.zone_config import ZoneConfig
from globaldns.table.claims import ClaimKind, absolute
from globaldns.table.clusterset.nodes import SCHEMA_VERSION, VERSION_LABEL
from globaldns.table.clusterset.pipeline import ClustersetPipeline
from globaldns.table.model import Cluster, is_remote
from globaldns.table.policy import Contribution
from globaldns.table.sites import Gateway
from globaldns.table.table import Table
from globaldns.table.views import NameView


def as_json(views: Iterable[NameView], zone: str) -> list[dict[str, object]]:
    """`/table` and `table --format json`: `contributions` is filled for explained views."""
    return [name_json(view, zone) for view in views]


def name_json(view: NameView, zone: str) -> dict[str, object]:
    """One name of `as_json`."""
    return {
        "name": absolute(view.name, view.zone or zone),
        "kind": view.kind.label,
        "tier": view.tier.label,
        "clusters": list(view.clusters),
        "addresses": list(view.addresses),
        "ports": [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in view.ports],
        "reason": view.reason,
        "contributions": [
            {
                "cluster": c.cluster,
                "ready": c.ready,
                "used": c.used,
                "why": c.why,
                "gateways": [
                    {"address": g.address, "up": g.up, "error": g.error} for g in c.gateways
                ],
            }
            for c in view.contributions
        ],
    }


def gateways_json(table: Table) -> list[dict[str, object]]:
    """Per cluster: each gateway address, up or down as the policy counts it, since, why."""
    return [
        {
            "cluster": cluster.name,
            "region": cluster.region,
            "local": not is_remote(cluster.name, table.local),
            "probePort": cluster.probe_port,
            "gatewayReady": cluster.gateway_ready,
            "gateways": [
                {
                    "address": g.address,
                    "up": g.up,
                    "since": since,
                    "error": g.error,
                    "lastError": last,
                }
                for g, since, last in _gateways(table, cluster)
            ],
        }
        for cluster in sorted(table.clusters.values(), key=lambda c: c.name)
    ]


def _gateways(table: Table, cluster: Cluster) -> list[tuple[Gateway, float | None, str]]:
    """Each gateway as judged, when probing last changed its verdict (None: never), and the
    last probe failure, kept once the address is back up (why it was down)."""
    probed = table.health.get(cluster.name, {})
    judged = table.sites[cluster.name].gateways
    return [
        (g, probed[g.address].since, probed[g.address].error)
        if g.address in probed
        else (g, None, "")
        for g in judged
    ]


def as_text(views: Iterable[NameView], zone: str) -> str:
    """A table for people: a row per record type and SRV name; under an explained name, one
    line per cluster saying what it had and why it was used or skipped."""
    lines: list[tuple[str, ...] | str] = [("NAME", "TYPE", "TIER", "CLUSTERS", "ADDRESSES", "WHY")]
    for view in views:
        tier = view.tier.label
        if view.kind not in (ClaimKind.SERVICE, ClaimKind.ENTRY):
            tier += f" ({view.kind.label})"
        clusters = ",".join(view.clusters) or "-"
        fqdn = absolute(view.name, view.zone or zone)
        for rtype, addresses in _by_type(view.addresses):
            lines.append((fqdn, rtype, tier, clusters, ",".join(addresses), view.reason))
        if not view.addresses and not view.ports:  # a name that is not served says why
            lines.append((fqdn, "-", tier, clusters, "-", view.reason))
        for srv_name, port in srv_names(view.name, view.ports):
            target = f"0 100 {port.port} {fqdn}"
            srv_fqdn = absolute(srv_name, view.zone or zone)
            lines.append((srv_fqdn, "SRV", tier, clusters, target, view.reason))
        lines.extend(_contribution(c) for c in view.contributions)
    return _columns(lines)


def _contribution(c: Contribution) -> str:
    health = ", ".join(f"{g.address} {'up' if g.up else 'down'}" for g in c.gateways)
    used = "used" if c.used else "skipped"
    return f"  {c.cluster}: {used}, {c.ready} ready: {c.why} [gateways: {health or 'none'}]\n"


def gateways_text(table: Table) -> str:
    """Per-cluster gateway health for `globaldns table`: up or down, since when, the error."""
    lines: list[tuple[str, ...] | str] = [("CLUSTER", "REGION", "GATEWAY", "STATE", "SINCE", "WHY")]
    for cluster in sorted(table.clusters.values(), key=lambda c: c.name):
        for gateway, since, last in _gateways(table, cluster):
            when = "-" if since is None else datetime.fromtimestamp(since, UTC).isoformat()
            state = "up" if gateway.up else "down"
            if not is_remote(cluster.name, table.local):
                state = "local, not probed"
            why = gateway.error or (f"last down: {last}" if last else "")
            lines.append((cluster.name, cluster.region or "-", gateway.address, state, when, why))
    return _columns(lines)


def clusters_text(clusters: list[dict[str, Any]]) -> str:
    """Each cluster's sync state for `globaldns table`, from `/table`'s `clusters` rows: how
    old its data is, and a new connection being made beside the serving one."""
    lines: list[tuple[str, ...] | str] = [("CLUSTER", "STATE", "SINCE", "DATA AGE", "WHY")]
    for row in clusters:
        since = datetime.fromtimestamp(row["since"], UTC).isoformat(timespec="seconds")
        age = "-" if row["dataAgeSeconds"] is None else f"{row['dataAgeSeconds']:g}s"
        why = [row["error"]]
        new = row["newConnection"]
        if new is not None:
            why.append(f"new connection {new['state']}: {new['error']}".rstrip(": "))
        if row["secretRefused"] is not None and row["state"] != "refused":
            why.append(f"refused: {row['secretRefused']}")
        lines.append((row["name"], row["state"], since, age, "; ".join(w for w in why if w)))
    return _columns(lines)


def _columns(lines: list[tuple[str, ...] | str]) -> str:
    """Rows aligned in columns (the last one ragged); plain strings pass through as they are."""
    rows = [line for line in lines if isinstance(line, tuple)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "".join(
        line
        if isinstance(line, str)
        else "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        + "\n"
        for line in lines
    )


def as_zone(table: Table) -> str:
    """A zone file with the same records the server answers (one rotation, all records); a
    wildcard's `*` records as RFC 4592 reads them, without the SRV answers globaldns adds below
    it (`dns.wildcard`)."""
    zone = table.config.zone
    lines = _apex_lines(table.config, table.zone.serial)
    for view in table.views():
        lines.extend(address_lines(view.name, view.addresses))
        if is_wildcard(view.name):
            continue  # its SRV answers name the question: no record in a zone file can
        lines.extend(
            f"{srv_name} IN SRV 0 100 {port.port} {absolute(view.name, zone)}"
            for srv_name, port in srv_names(view.name, view.ports)
        )
    return "\n".join(lines) + "\n"


def _apex_lines(config: ZoneConfig, serial: int) -> list[str]:
    """A zone file's head: its origin, default TTL, and the apex SOA and NS."""
    mname, rname, values = soa_fields(config, serial)
    return [
        f"$ORIGIN {config.zone}.",
        f"$TTL {config.ttl}",
        f"@ IN SOA {mname} {rname} {' '.join(map(str, values))}",
        f"@ IN NS {config.nameserver}.",
    ]


def address_lines(name: str, addresses: Iterable[str]) -> list[str]:
    """A name's A and AAAA records in a zone file."""
    return [f"{name} IN {rtype} {a}" for rtype, group in _by_type(addresses) for a in group]


def _by_type(addresses: Iterable[str]) -> list[tuple[str, list[str]]]:
    v4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
    v6 = [a for a in addresses if ipaddress.ip_address(a).version == 6]
    return [(rtype, group) for rtype, group in (("A", v4), ("AAAA", v6)) if group]


def as_clusterset_zone(pipeline: ClustersetPipeline) -> str:
    """The clusterset zone (SPEC §7) as a zone file, as its names answer (one rotation)."""
    zone = pipeline.config.zone
    lines = _apex_lines(pipeline.config, pipeline.zone.serial)
    lines.append(f'{VERSION_LABEL} IN TXT "{SCHEMA_VERSION.decode()}"')
    for owner in pipeline.owners():
        if owner.view is not None:
            lines.extend(address_lines(owner.name, owner.view.addresses))
        lines.extend(f"{owner.name} IN SRV 0 100 {s.port} {s.target}.{zone}." for s in owner.srv)
    return "\n".join(lines) + "\n"
