"""The memo of recent UDP questions: what the responder, the zone and the compiled loop share.

The responder remembers a reply here (`Memo.keep`) and answers the same question again, in any
letter case, by splicing the asker's question into it; the zone empties it (`Memo.forget`)
whenever an answer may change; the compiled UDP loop (server/_fastudp.c) answers from it
without entering Python. That loop reads an entry's slots by name (and those of its `Answer`
and `Sections`), their offsets found when it is imported: reordering them is followed, renaming
one it reads stops the import.
"""

from __future__ import annotations

from globaldns.dns.answer import Answer
from globaldns.dns.wire import NXDOMAIN, SERVFAIL

RECENT_MAX = 4096  # questions remembered between table changes
# Replies for names that do not exist are kept only while the memo is less than half full.
NXDOMAIN_ROOM = RECENT_MAX // 2
_MISSING = (NXDOMAIN, SERVFAIL)  # the rcodes of names nobody holds


class Recent:
    """A remembered reply, keyed by the query's ARCOUNT, question and any OPT, lower-cased.

    A class with slots rather than a NamedTuple: a NamedTuple's unpacking is not specialised by
    the interpreter, and cost each remembered question ~120 ns of ~900; reading slots costs what
    unpacking a plain tuple does, and the compiled loop reads them by their offsets.
    """

    __slots__ = ("answer", "do", "heads", "limit", "qend", "qtype", "tail")

    def __init__(
        self,
        heads: tuple[bytes, bytes] | None,
        tail: bytes,
        answer: Answer,
        qend: int,
        do: int,
        limit: int,
        qtype: int,
    ) -> None:
        # The reply's flags and counts for RD clear and set; None: assembled from `answer` per
        # query (its records rotate, or it truncates), in the compiled loop too.
        self.heads = heads
        self.tail = tail  # the reply after the question
        self.answer = answer
        self.qend = qend  # where the question's name ends
        self.do = do  # the query's DO bit, -1 without EDNS
        self.limit = limit  # the size the reply must fit
        self.qtype = qtype


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
