"""The clusterset zone as a zone file (NSD, BIND): the records its names answer, one rotation,
as `globaldns table --format clusterset-zone` prints it for the NSD differential."""

from __future__ import annotations

from globaldns.dns.compile import soa_fields
from globaldns.table.clusterset.nodes import SCHEMA_VERSION, VERSION_LABEL
from globaldns.table.clusterset.pipeline import ClustersetPipeline
from globaldns.table.render import address_lines


def as_zone(pipeline: ClustersetPipeline) -> str:
    config = pipeline.config
    zone = config.zone
    mname, rname, values = soa_fields(config, pipeline.zone.serial)
    lines = [
        f"$ORIGIN {zone}.",
        f"$TTL {config.ttl}",
        f"@ IN SOA {mname} {rname} {' '.join(map(str, values))}",
        f"@ IN NS {config.nameserver}.",
        f'{VERSION_LABEL} IN TXT "{SCHEMA_VERSION.decode()}"',
    ]
    for owner in pipeline.owners():
        if owner.view is not None:
            lines.extend(address_lines(owner.name, owner.view.addresses))
        lines.extend(f"{owner.name} IN SRV 0 100 {s.port} {s.target}.{zone}." for s in owner.srv)
    return "\n".join(lines) + "\n"
