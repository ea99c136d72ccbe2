"""`wire` and `unwire` over a corpus of real Corefiles, and the rules for existing blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from globaldns.install.corefile import CorefileError, ServerBlock, parse
from globaldns.install.wiring import AddressError, unwire, wire

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "corefiles").glob("*.Corefile"))
REFUSED = sorted((HERE / "refused").glob("*.Corefile"))
ADDRESS = "10.96.0.20"


def read(path: Path) -> str:
    return path.read_bytes().decode()


def global_block(text: str) -> ServerBlock:
    (block,) = parse(text).blocks_serving("global")
    return block


def forwards(block: ServerBlock) -> list[list[str]]:
    return [
        [a.text for a in d.args] for d in block.directives if d.name.text in {"forward", "proxy"}
    ]


def without_global_block(text: str) -> str:
    """The text minus the single-zone block for `global` and a comment line right above it."""
    blocks = [b for b in parse(text).blocks_serving("global") if len(b.keys) == 1]
    if not blocks:
        return text
    start = text.rfind("\n", 0, blocks[0].start) + 1
    above = text.rfind("\n", 0, start - 1) + 1
    if start and text[above:start].lstrip().startswith("#"):
        start = above
    return text[:start] + text[blocks[0].end :]


def test_the_corpus_has_at_least_twelve_corefiles_each_with_a_noted_source() -> None:
    sources = (HERE / "corefiles" / "SOURCES.md").read_text()
    assert len(CORPUS) >= 12
    assert all(f"`{path.name}`" in sources for path in CORPUS)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_wiring_leaves_exactly_one_block_for_global_forwarding_to_the_address(path: Path) -> None:
    block = global_block(wire(read(path), ADDRESS))
    assert len(block.keys) == 1
    assert forwards(block) == [[".", f"{ADDRESS}:53"]]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_wiring_keeps_every_byte_outside_the_global_block(path: Path) -> None:
    original = read(path)
    wired = wire(original, ADDRESS)
    if path.stem == "several-zones-with-global":
        original = original.replace("dns://global.:53 ", "")
    if not parse(original).blocks_serving("global"):
        assert wired.startswith(original)
    assert without_global_block(wired).rstrip() == without_global_block(original).rstrip()


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_wiring_twice_changes_nothing_the_second_time(path: Path) -> None:
    wired = wire(read(path), ADDRESS)
    assert wire(wired, ADDRESS) == wired


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_unwiring_restores_the_original_byte_for_byte(path: Path) -> None:
    original = read(path)
    result = unwire(wire(original, ADDRESS), original)
    assert result.text == original
    assert result.restored_exactly


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_unwiring_after_a_repoint_to_a_new_address_still_restores_the_original(path: Path) -> None:
    original = read(path)
    rewired = wire(wire(original, ADDRESS), "10.96.0.21", ttl=30)
    assert unwire(rewired, original).text == original


@pytest.mark.parametrize("path", REFUSED, ids=lambda p: p.stem)
def test_corefiles_that_cannot_be_edited_safely_are_refused(path: Path) -> None:
    with pytest.raises(CorefileError, match=r"^Corefile line \d+: .+; .+"):
        wire(read(path), ADDRESS)


@pytest.mark.parametrize(
    "address",
    [None, "", "  ", "None", "globaldns.svc", "10.0.0.1:53", "127.0.0.1", "0.0.0.0", "::"],
)
def test_an_unusable_address_is_refused(address: str | None) -> None:
    with pytest.raises(AddressError):
        wire(read(CORPUS[0]), address)


def test_an_ipv6_address_is_written_in_brackets() -> None:
    assert forwards(global_block(wire(read(CORPUS[0]), "fd00:10:96::a"))) == [
        [".", "[fd00:10:96::a]:53"]
    ]


def test_the_appended_block_is_marked_and_set_off_by_a_blank_line() -> None:
    wired = wire(".:53 {\n    errors\n}\n", ADDRESS, ttl=7)
    assert wired == (
        ".:53 {\n    errors\n}\n\n"
        "# globaldns: forwards global. to globaldns\n"
        "global:53 {\n    errors\n    cache 7\n    forward . 10.96.0.20:53\n}\n"
    )


def test_the_appended_block_follows_the_files_indentation_and_line_endings() -> None:
    wired = wire(".:53 {\r\n\terrors\r\n}", ADDRESS)
    assert wired.endswith(
        "}\r\n\r\n# globaldns: forwards global. to globaldns\r\nglobal:53 {\r\n"
        "\terrors\r\n\tcache 5\r\n\tforward . 10.96.0.20:53\r\n}\r\n"
    )


def test_an_istiocoredns_block_is_replaced_in_place_and_its_plugins_dropped() -> None:
    original = (
        ".:53 {\n    errors\n}\n"
        "global:53 {\n    log\n    cache 30\n    proxy . 10.0.0.5\n}\n# end\n"
    )
    assert wire(original, ADDRESS) == (
        ".:53 {\n    errors\n}\n# globaldns: forwards global. to globaldns\n"
        "global:53 {\n    errors\n    cache 5\n    forward . 10.96.0.20:53\n}\n# end\n"
    )


def test_global_is_taken_out_of_a_block_serving_several_zones_and_gets_its_own() -> None:
    original = ".:53 {\n    errors\n}\nmesh.internal, global {\n    forward . 10.0.0.5\n}\n"
    wired = wire(original, ADDRESS)
    assert wired.startswith(".:53 {\n    errors\n}\nmesh.internal {\n    forward . 10.0.0.5\n}\n")
    assert forwards(global_block(wired)) == [[".", f"{ADDRESS}:53"]]


def test_the_block_uses_the_port_the_root_zone_is_served_on() -> None:
    wired = wire(".:5353 {\n    errors\n}\n", ADDRESS)
    assert "\nglobal:5353 {\n" in wired
    assert parse(wired).blocks_serving("global", 53) == ()


def test_a_block_sharing_its_line_with_other_text_is_replaced_on_a_line_of_its_own() -> None:
    original = ".:53 {\n    errors\n} global {\n    log\n}\n"
    wired = wire(original, ADDRESS)
    assert wired.startswith(".:53 {\n    errors\n} \n# globaldns: forwards global. to globaldns\n")
    assert wire(wired, ADDRESS) == wired


def test_unwire_after_someone_else_edited_removes_only_our_block() -> None:
    original = ".:53 {\n    errors\n}\n"
    edited = wire(original, ADDRESS).replace("errors", "errors\n    log")
    result = unwire(edited, original)
    assert result.text == ".:53 {\n    errors\n    log\n}\n"
    assert not result.restored_exactly
    assert "edited" in result.message


def test_unwire_after_someone_else_edited_puts_the_previous_global_block_back() -> None:
    original = ".:53 {\n    errors\n}\nglobal:53 {\n    forward . 10.0.0.5\n}\n"
    edited = wire(original, ADDRESS).replace("errors", "errors\n    log", 1)
    result = unwire(edited, original)
    assert result.text == ".:53 {\n    errors\n    log\n}\nglobal:53 {\n    forward . 10.0.0.5\n}\n"
    assert not result.restored_exactly


def test_unwire_after_an_edit_says_to_restore_global_as_a_key_of_a_shared_block() -> None:
    original = ".:53 {\n    errors\n}\nmesh.internal global {\n    forward . 10.0.0.5\n}\n"
    edited = wire(original, ADDRESS).replace("errors", "errors\n    log", 1)
    result = unwire(edited, original)
    assert (
        result.text
        == ".:53 {\n    errors\n    log\n}\nmesh.internal {\n    forward . 10.0.0.5\n}\n"
    )
    assert "add it back" in result.message


def test_unwire_without_a_saved_corefile_removes_only_our_block() -> None:
    original = ".:53 {\n    errors\n}\n"
    assert unwire(wire(original, ADDRESS), None).text == original


def test_unwire_leaves_a_corefile_without_our_block_alone() -> None:
    original = ".:53 {\n    errors\n}\nglobal:53 {\n    forward . 10.0.0.5\n}\n"
    result = unwire(original, ".:53 {\n}\n")
    assert result.text == original
    assert "no block managed by globaldns" in result.message


BASE_LINES = [
    ".:53 {",
    "errors",
    "health {",
    "lameduck 5s",
    "}",
    'log . "{remote} {name}"',
    "kubernetes cluster.local in-addr.arpa ip6.arpa {",
    "fallthrough in-addr.arpa ip6.arpa",
    "}",
    "forward . {$UPSTREAM}",
    "reload",
    "}",
    "example.org {",
    "forward . 10.1.2.3",
    "}",
]


@st.composite
def noisy_corefiles(draw: st.DrawFn) -> str:
    """BASE_LINES with random indentation, trailing comments, blank lines and line endings."""
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    blank = st.sampled_from(["", " ", "\t", "  # a comment {", "#}"])
    out = []
    for line in BASE_LINES:
        out.extend(draw(st.lists(blank, max_size=2)))
        indent = draw(st.sampled_from(["", " ", "  ", "    ", "\t", "\t "]))
        comment = draw(st.sampled_from(["", " ", "\t", " # }", "  #{ x"]))
        out.append(indent + line + comment)
    text = eol.join(out)
    return text + draw(st.sampled_from(["", eol, eol + eol, eol + "# trailer" + eol]))


@settings(max_examples=150, deadline=None)
@given(noisy_corefiles())
def test_whitespace_and_comments_never_change_the_wiring_rules(original: str) -> None:
    wired = wire(original, ADDRESS)
    assert wired.startswith(original)
    assert forwards(global_block(wired)) == [[".", f"{ADDRESS}:53"]]
    assert wire(wired, ADDRESS) == wired
    assert unwire(wired, original).text == original


def test_a_block_naming_the_zone_twice_is_refused_never_left_without_a_key() -> None:
    original = ".:53 {\n    errors\n}\nglobal:53 global.:53 {\n    log\n}\n"
    with pytest.raises(CorefileError, match=r"line 4: global\.:53 is named by 2 .*delete all but"):
        wire(original, ADDRESS)


def test_taking_the_zone_out_of_keys_with_a_comment_between_them_is_refused() -> None:
    original = ".:53 {\n    errors\n}\nmesh.internal, # mesh\n  global {\n    log\n}\n"
    with pytest.raises(CorefileError, match=r"line 4: .*would drop the comment.*move the comment"):
        wire(original, ADDRESS)


ZONE_KEYS = ["global", "global.", "global:53", "global.:53", "dns://global.:53", '"global"']
OTHER_KEYS = ["example.org", "mesh.internal:53", "global:5353", "{$ZONE}", "10.in-addr.arpa", ","]
KEY_SEPARATORS = [" ", ", ", ",\n", "\t", ",\t", ", # note\n", ",\n# between\n  ", " , "]
PLUGINS = ["errors", "log", "cache 30", "forward . 10.0.0.5", "reload", 'log . "{remote}"', "# c"]
MAIN_BLOCK = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}"


@st.composite
def server_blocks(draw: st.DrawFn) -> str:
    """A block whose keys mix other zones with the zone (mostly once, now and then twice),
    comments and separators."""
    keys = draw(st.lists(st.sampled_from(OTHER_KEYS), max_size=3))
    zone_keys = draw(st.sampled_from([0, 1, 1, 1, 2]))
    for key in draw(st.lists(st.sampled_from(ZONE_KEYS), min_size=zone_keys, max_size=zone_keys)):
        keys.insert(draw(st.integers(0, len(keys))), key)
    keys = keys or ["example.org"]
    head = keys[0] + "".join(draw(st.sampled_from(KEY_SEPARATORS)) + key for key in keys[1:])
    body = "".join("\n    " + p for p in draw(st.lists(st.sampled_from(PLUGINS), max_size=3)))
    return head + draw(st.sampled_from([" {", "\n{", " { # x"])) + body + "\n}"


@st.composite
def keyed_corefiles(draw: st.DrawFn) -> str:
    """The main block among up to two generated blocks, with comments around them."""
    blocks = draw(st.lists(server_blocks(), max_size=2))
    blocks.insert(draw(st.integers(0, len(blocks))), MAIN_BLOCK)
    lead = draw(st.sampled_from(["", "# head\n"]))
    return lead + "\n".join(blocks) + draw(st.sampled_from(["", "\n", "\n\n# tail\n"]))


@settings(max_examples=200, deadline=None)
@given(keyed_corefiles())
def test_whatever_wire_returns_parses_and_unwires_back_or_it_refuses(original: str) -> None:
    try:
        wired = wire(original, ADDRESS)
    except CorefileError as err:
        assert str(err).startswith(f"Corefile line {err.line}: ") and err.fix
        return
    assert forwards(global_block(wired)) == [[".", f"{ADDRESS}:53"]]
    assert wire(wired, ADDRESS) == wired
    assert unwire(wired, original).text == original
