"""Whether two answers to one question differ, and whether a rule of globaldns explains it.

Pure: the same replies and table rows always give the same verdict. Answers compare as sets
(records rotate) with their rcode; a difference is explained when the table knows why ours
differs on purpose, and only then (`globaldns compare` exits 1 on any other).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

from globaldns.compare.asking import Outcome, Reply
from globaldns.compare.ours import Held, Skipped
from globaldns.table.claims import ClaimKind

# istiocoredns's own answer for an entry without addresses: one unique 127.255.x.y each.
ISTIOCOREDNS_FALLBACK = ipaddress.ip_network("127.255.0.0/16")
_EMPTY = (Outcome.NXDOMAIN, Outcome.NODATA)


class Side(Enum):
    """Who answered addresses."""

    THEIRS_ONLY = "theirs-only"
    OURS_ONLY = "ours-only"
    BOTH = "both"  # both answered, with other addresses
    NEITHER = "neither"  # neither answered addresses, with other rcodes (or no reply)


class Rule(Enum):
    """Why ours differs on purpose; UNEXPLAINED when no rule says."""

    SKIPPED = "skipped"
    DERIVED_NAME = "derived-name"
    LOCAL_FIRST = "local-first"
    NODATA = "nodata"
    DEFAULT_ADDRESS = "default-address"
    UNEXPLAINED = "unexplained"


@dataclass(frozen=True, slots=True)
class Known:
    """What our side knows of a name: the row `/table` lists, or the skipped entry's."""

    held: Held | None = None
    skipped: Skipped | None = None


@dataclass(frozen=True, slots=True)
class Difference:
    name: str
    qtype: str
    theirs: Reply
    ours: Reply
    side: Side
    rule: Rule
    why: str

    @property
    def explained(self) -> bool:
        return self.rule is not Rule.UNEXPLAINED


def side(theirs: Reply, ours: Reply) -> Side:
    if theirs.answers and ours.answers:
        return Side.BOTH
    if theirs.answers:
        return Side.THEIRS_ONLY
    return Side.OURS_ONLY if ours.answers else Side.NEITHER


def compare(
    name: str, qtype: str, theirs: Reply, ours: Reply, known: Known, theirs_globaldns: bool
) -> Difference | None:
    """None when both said the same; else the difference, with the rule that explains it."""
    if theirs == ours:
        return None
    rule, why = explain(theirs, ours, known, theirs_globaldns)
    return Difference(name, qtype, theirs, ours, side(theirs, ours), rule, why)


def explain(theirs: Reply, ours: Reply, known: Known, theirs_globaldns: bool) -> tuple[Rule, str]:
    """The first rule that explains why ours differs, and its words; else UNEXPLAINED and
    what the table says of the name."""
    held, skipped = known.held, known.skipped
    if skipped is not None and ours.outcome in _EMPTY:
        return Rule.SKIPPED, f"not served: {skipped.why}"
    if held is None:
        return Rule.UNEXPLAINED, "not in our table"
    derived = held.kind != ClaimKind.ENTRY.label
    if derived and ours.answers and theirs.outcome in _EMPTY and not theirs_globaldns:
        return Rule.DERIVED_NAME, (
            f"a name globaldns derives from a Service ({held.kind}); istiocoredns named "
            "ServiceEntry hosts only"
        )
    if derived and ours.answers and theirs.answers:
        return Rule.LOCAL_FIRST, f"local-first: ours answers tier {held.tier}: {held.reason}"
    if ours.outcome is Outcome.NODATA and theirs.outcome is Outcome.NXDOMAIN:
        return Rule.NODATA, (
            "the name exists in another type: NODATA (RFC 2308), where NXDOMAIN denies every "
            "type of the name"
        )
    if not derived and ours.answers and theirs.answers and _fallback(theirs.addresses):
        return Rule.DEFAULT_ADDRESS, (
            "theirs is istiocoredns's own address for an entry without addresses (127.255.x.y), "
            "which globaldns does not copy: ours answers --default-address"
        )
    return Rule.UNEXPLAINED, f"ours: {held.kind}, {held.reason}"


def _fallback(addresses: frozenset[str]) -> bool:
    return all(ipaddress.ip_address(a) in ISTIOCOREDNS_FALLBACK for a in addresses)
