"""The Corefile reader: what it treats as structure, which blocks serve a zone, `reload`."""

from __future__ import annotations

import pytest

from globaldns.install.corefile import CorefileError, parse, tokenize

MAIN = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n"


def test_token_offsets_index_the_original_text_quotes_included() -> None:
    text = 'log . "{remote} \\"q\\"" # note\n'
    tokens = tokenize(text)
    assert [t.text for t in tokens] == ["log", ".", '{remote} "q"']
    assert text[tokens[2].start : tokens[2].end] == '"{remote} \\"q\\""'


def test_braces_inside_quotes_and_placeholders_are_not_structure() -> None:
    text = (
        ".:53 {\n"
        '    template IN A example.org {\n        answer "{{ .Name }} 60 IN A 1.2.3.4"\n    }\n'
        "    forward . {$UPSTREAM} {env.BACKUP}\n"
        "    rewrite name regex (.*)\\.old {1}.new\n"
        "}\n"
    )
    block = parse(text).blocks[0]
    assert [d.name.text for d in block.directives] == ["template", "forward", "rewrite"]
    assert block.end == len(text) - 1


def test_a_hash_inside_a_word_starts_a_comment_as_in_coredns() -> None:
    assert [t.text for t in tokenize("errors#comment {\n")] == ["errors"]


def test_an_open_brace_on_the_line_after_the_keys_opens_the_block() -> None:
    block = parse("a.example, b.example\n{\n    errors\n}\n").blocks[0]
    assert [k.zone for k in block.keys] == ["a.example.", "b.example."]


def test_snippets_are_not_server_blocks() -> None:
    parsed = parse("(common) {\n    errors\n}\n" + MAIN)
    assert [b.snippet_name for b in parsed.blocks] == ["common", None]
    assert len(parsed.servers) == 1


def test_top_level_imports_are_kept_apart_from_blocks() -> None:
    parsed = parse(MAIN + "import custom/*.server\n")
    assert [d.args[0].text for d in parsed.imports] == ["custom/*.server"]
    assert len(parsed.blocks) == 1


@pytest.mark.parametrize(
    "key", ["global", "global.", "global:53", "global.:53", "dns://global:53", "dns://GLOBAL."]
)
def test_keys_that_serve_the_zone_on_port_53(key: str) -> None:
    parsed = parse(MAIN + key + " {\n    errors\n}\n")
    assert len(parsed.blocks_serving("global")) == 1


@pytest.mark.parametrize(
    "key", ["global:5353", "tls://global:53", "svc.global", "{$ZONE}", "global.example:53"]
)
def test_keys_that_do_not_serve_the_zone_on_port_53(key: str) -> None:
    parsed = parse(MAIN + key + " {\n    errors\n}\n")
    assert parsed.blocks_serving("global") == ()


def test_a_block_with_several_zones_one_of_them_global_serves_it() -> None:
    parsed = parse(MAIN + "example.org:53, global:53 {\n    errors\n}\n")
    assert [k.token.text for k in parsed.blocks_serving("global")[0].keys] == [
        "example.org:53,",
        "global:53",
    ]


def test_the_zone_is_looked_up_on_the_port_the_root_zone_is_served_on() -> None:
    parsed = parse(".:5353 {\n    errors\n}\nglobal:5353 {\n    errors\n}\n")
    assert parsed.dns_port() == 5353
    assert len(parsed.blocks_serving("global")) == 1


def test_reload_in_the_main_block_is_detected() -> None:
    assert parse(".:53 {\n    errors\n    reload\n}\n").has_reload()


def test_a_main_block_without_reload_is_reported() -> None:
    assert not parse(MAIN).has_reload()


def test_reload_nested_in_another_plugin_does_not_count() -> None:
    text = ".:53 {\n    hosts /etc/hosts {\n        reload 15s\n    }\n}\n"
    assert not parse(text).has_reload()


def test_reload_in_another_server_block_does_not_count() -> None:
    assert not parse(MAIN + "example.org {\n    reload\n}\n").has_reload()


def test_reload_imported_from_a_snippet_counts() -> None:
    assert parse("(base) {\n    reload\n}\n.:53 {\n    import base\n}\n").has_reload()


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (".:53 {\n    errors\n", 1, "never closed"),
        (".:53 {\n    errors\n}\n}\n", 4, "closes nothing"),
        ('.:53 {\n    log "oops\n}\n', 2, "quoted string is never closed"),
        (".:53\nerrors\n", 1, "has no braces"),
        (".:53 { errors }\n", 1, "on the same line"),
        ("a.example, {\n}\n", 1, "no key follows"),
        ("{\n}\n", 1, "no zone"),
        (".:53 {\n    {\n}\n", 2, "for no plugin"),
    ],
)
def test_unparsable_corefiles_are_refused_with_the_line_and_a_fix(
    text: str, line: int, problem: str
) -> None:
    with pytest.raises(CorefileError) as caught:
        parse(text)
    assert caught.value.line == line
    assert problem in caught.value.problem
    assert caught.value.fix
