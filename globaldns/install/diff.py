"""The unified diff `install --dry-run` prints instead of writing."""

from __future__ import annotations

import difflib

_NO_NEWLINE = "\\ No newline at end of file\n"


def unified_diff(before: str, after: str, name: str = "Corefile") -> str:
    """A `diff -u` style patch from `before` to `after`; empty when they are equal.

    Like `diff`, it flags a last line without a newline, so that change is visible too.
    """
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{name}",
        tofile=f"b/{name}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" + _NO_NEWLINE for line in lines)
