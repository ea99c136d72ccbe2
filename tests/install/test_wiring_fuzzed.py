"""Corefiles the fuzzer (fuzz/fuzz_corefile.py) found that `wire` once mishandled (issue 15)."""

from __future__ import annotations

from globaldns.install.wiring import unwire, wire

ADDRESS = "10.96.0.53"


def test_wiring_a_file_whose_shared_block_is_indented_by_two_twice_changes_nothing() -> None:
    wired = wire("global:53 example.org:53 {\n  errors\n}\n", ADDRESS)
    assert wire(wired, ADDRESS) == wired


def test_wiring_a_file_of_a_lone_carriage_return_twice_changes_nothing() -> None:
    wired = wire("\r", ADDRESS)  # found by fuzz_corefile as b"\r"
    assert wire(wired, ADDRESS) == wired


def test_unwiring_a_wired_shared_block_indented_by_two_gives_the_file_back() -> None:
    original = "global:53 example.org:53 {\n  errors\n}\n"
    assert unwire(wire(original, ADDRESS), original).text == original


def test_unwiring_a_wired_lone_carriage_return_gives_it_back() -> None:
    assert unwire(wire("\r", ADDRESS), "\r").text == "\r"


def test_wiring_a_shared_block_whose_other_key_names_a_snippet_twice_changes_nothing() -> None:
    wired = wire("(upstream) global:53 {\n\terrors\n}\n", ADDRESS)  # reduced from a fuzzer crash
    assert wire(wired, ADDRESS) == wired
