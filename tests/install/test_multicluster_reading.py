"""How install reads a Corefile's `kubernetes ... multicluster` option (zones.py), as hypothesis
properties: any text is read or refused with a `CorefileError`, never another error; and in
generated `kubernetes` blocks exactly the zones of the lines that start with the option count,
whatever else the lines hold (comments, the word as another option's argument, other plugins)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from globaldns.install.corefile import CorefileError
from globaldns.install.targets import COREFILE
from globaldns.install.zones import multicluster_zones

WORDS = st.sampled_from(
    ["multicluster", "clusterset.local", "Mesh.Example.", "pods", "insecure", "fallthrough",
     "namespaces", "{$ZONE}", '"a b"', "{1}", "ttl", "30"]
)  # fmt: skip
LINES = st.lists(st.lists(WORDS, min_size=1, max_size=4), max_size=6)


def fqdn(word: str) -> str:
    return word.lower() if word.endswith(".") else word.lower() + "."


def corefile(lines: list[list[str]], comment: str, other: list[list[str]]) -> str:
    """A main block whose kubernetes plugin has `lines`, then a `hosts` plugin with `other`."""
    body = "".join(f"       {' '.join(words)}  # {comment}\n" for words in lines)
    hosts = "".join(f"       10.0.0.1 {' '.join(words)}\n" for words in other)
    return (
        f".:53 {{\n    kubernetes cluster.local {{\n{body}    }}\n"
        f"    hosts {{\n{hosts}    }}\n    forward . /etc/resolv.conf\n}}\n"
    )


def quoted(word: str) -> str:
    return word.strip('"')


@given(LINES, st.sampled_from(["", "multicluster clusterset.local", "{ } {"]), LINES)
def test_only_lines_starting_with_the_option_name_zones(
    lines: list[list[str]], comment: str, other: list[list[str]]
) -> None:
    expected = {
        fqdn(quoted(word)) for words in lines if words[0] == "multicluster" for word in words[1:]
    }
    assert multicluster_zones({COREFILE: corefile(lines, comment, other)}) == expected


PIECES = st.sampled_from(
    ["kubernetes", "multicluster", "clusterset.local", ".:53", "{", "}", "#", '"', "\\", " ", "\n"]
)


@given(st.lists(PIECES, max_size=40).map("".join))
def test_any_text_is_read_or_refused_with_a_corefile_error(text: str) -> None:
    try:
        zones = multicluster_zones({COREFILE: text})
    except CorefileError:
        return
    assert all(zone.endswith(".") for zone in zones)
