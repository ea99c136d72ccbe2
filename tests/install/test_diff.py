"""The `--dry-run` diff."""

from __future__ import annotations

from globaldns.install.diff import unified_diff
from globaldns.install.wiring import wire


def test_equal_texts_give_an_empty_diff() -> None:
    assert unified_diff("a\n", "a\n") == ""


def test_the_diff_shows_the_added_block_as_added_lines() -> None:
    before = ".:53 {\n    errors\n}\n"
    diff = unified_diff(before, wire(before, "10.96.0.20"))
    assert diff.startswith("--- a/Corefile\n+++ b/Corefile\n")
    assert "+    forward . 10.96.0.20:53\n" in diff
    assert not [
        line for line in diff.splitlines() if line.startswith("-") and line != "--- a/Corefile"
    ]


def test_a_missing_final_newline_is_flagged_like_diff_does() -> None:
    diff = unified_diff("}", "}\n")
    assert "-}\n\\ No newline at end of file\n+}\n" in diff
