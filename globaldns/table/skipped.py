"""The names the table saw and does not serve, as `/table`'s head lists them.

`globaldns compare` asks the other resolver these too (a ServiceEntry istiocoredns named may be
one globaldns skips on purpose), and says why each is not ours from this list.
"""

from __future__ import annotations

from globaldns.table.claims import absolute
from globaldns.table.table import Table


def skipped_json(table: Table) -> list[dict[str, str]]:
    """Each name not served, sorted: its absolute name, the reason's label and the why."""
    zone = table.config.zone
    return [
        {"name": absolute(name, zone), "reason": unserved.reason.label, "why": unserved.why}
        for name, unserved in sorted(table.unserved.items())
    ]
