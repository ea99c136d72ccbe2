"""What `globaldns compare` prints: a table of differences for people, JSON for CI."""

from __future__ import annotations

import json

from globaldns.compare.rules import Difference
from globaldns.compare.run import Result
from globaldns.config import host_port_text


def as_text(result: Result) -> str:
    """Who was compared, the counts, then one row per difference (unexplained first)."""
    options, listing = result.options, result.listing
    theirs = result.theirs_identity or "no globaldns (istiocoredns's rules apply)"
    lines = [
        f"ours:   globaldns {listing.server or '?'} at {options.ours.address} "
        f"(admin {host_port_text(*options.admin)}): {len(listing.held)} names, "
        f"{len(listing.skipped)} skipped",
        f"theirs: {options.theirs.address}: {theirs}",
        _summary(result),
    ]
    if listing.truncated:
        lines.append(f"stopped at --max-names {options.max_names}: the rest was not compared")
    if listing.unsynced:
        missing = ", ".join(listing.unsynced)
        lines.append(f"ours has clusters not synced, whose names may be missing: {missing}")
    rows = [("NAME", "TYPE", "THEIRS", "OURS", "WHY")]
    for d in _ordered(result.differences):
        why = d.why if d.explained else f"UNEXPLAINED ({d.why})"
        rows.append((d.name, d.qtype, str(d.theirs), str(d.ours), why))
    text = "\n".join(lines) + "\n"
    if len(rows) > 1:
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        text += "\n" + "".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + f"  {row[4]}\n"
            for row in rows
        )
    return text


def as_json(result: Result) -> str:
    options, listing = result.options, result.listing
    document = {
        "ours": {
            "server": listing.server,
            "dns": options.ours.address,
            "admin": host_port_text(*options.admin),
            "names": len(listing.held),
            "skipped": len(listing.skipped),
            "truncated": listing.truncated,
            "unsynced": list(listing.unsynced),
        },
        "theirs": {"dns": options.theirs.address, "globaldns": result.theirs_identity},
        "questions": result.questions,
        "same": result.questions - len(result.differences),
        "explained": len(result.differences) - len(result.unexplained),
        "unexplained": len(result.unexplained),
        "differences": [_difference_json(d) for d in _ordered(result.differences)],
    }
    return json.dumps(document, indent=1) + "\n"


def _difference_json(d: Difference) -> dict[str, object]:
    return {
        "name": d.name,
        "type": d.qtype,
        "theirs": str(d.theirs),
        "ours": str(d.ours),
        "side": d.side.value,
        "explained": d.explained,
        "rule": d.rule.value,
        "why": d.why,
    }


def _summary(result: Result) -> str:
    unexplained = len(result.unexplained)
    differ = len(result.differences)
    return (
        f"asked {result.questions} questions: {result.questions - differ} the same, "
        f"{differ} different ({differ - unexplained} explained, {unexplained} unexplained)"
    )


def _ordered(differences: tuple[Difference, ...]) -> list[Difference]:
    return sorted(differences, key=lambda d: (d.explained, d.name, d.qtype))
