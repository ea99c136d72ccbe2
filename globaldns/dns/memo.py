"""The memo of recent UDP questions: what the responder, the zone and the compiled loop share.

The responder remembers a reply here (`Memo.keep`) and answers the same question again, in any
letter case, by splicing the asker's question into it; the zone empties it (`Memo.forget`)
whenever an answer may change; the compiled UDP loop (server/_fastudp.c) answers from it
without entering Python. That loop reads an entry by the field names of `Recent`, looked up
when it is imported: reordering the fields is followed, renaming one it reads stops the import.
"""

from __future__ import annotations

from typing import NamedTuple

from globaldns.dns.answer import Answer
from globaldns.dns.wire import NXDOMAIN, SERVFAIL

RECENT_MAX = 4096  # questions remembered between table changes
# Replies for names that do not exist are kept only while the memo is less than half full.
NXDOMAIN_ROOM = RECENT_MAX // 2
_MISSING = (NXDOMAIN, SERVFAIL)  # the rcodes of names nobody holds


class Recent(NamedTuple):
    """A remembered reply, keyed by the query's ARCOUNT, question and any OPT, lower-cased."""

    heads: tuple[bytes, bytes] | None  # flags and counts for RD clear and set; None: rotates
    tail: bytes  # the reply after the question
    answer: Answer
    qend: int  # where the question's name ends
    do: int  # the query's DO bit, -1 without EDNS
    limit: int  # the size the reply must fit
    qtype: int


class Memo:
    """Recent questions and their replies, bounded; `entries` is never rebound (the compiled
    loop holds it), only emptied, and only by `forget`."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[bytes, Recent] = {}

    def keep(self, key: bytes, entry: Recent) -> None:
        """Remember a reply; when full, forget everything first (one `clear`, no bookkeeping).

        Replies for names that do not exist (NXDOMAIN, or SERVFAIL while a cluster never synced)
        are kept only while the memo is less than half full, so a flood of made-up names (a
        random-subdomain attack, fuzzing) cannot evict the real names' answers.
        """
        entries = self.entries
        if entry.answer.rcode in _MISSING and len(entries) >= NXDOMAIN_ROOM:
            return
        if len(entries) >= RECENT_MAX:
            self.forget()
        entries[key] = entry

    def forget(self) -> None:
        """Empty the memo: an answer may have changed (a name, the serial, completeness)."""
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)
