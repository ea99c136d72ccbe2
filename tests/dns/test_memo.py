"""The memo of recent UDP questions answers exactly as the full path does, in any letter case."""

from __future__ import annotations

import dns.message
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from globaldns.dns.memo import RECENT_MAX
from globaldns.dns.responder import Responder
from tests.dns.test_robustness import responder

NAMES = ["foo.global", "httpbin.bar.global", "bar.global", "nope.global", "global", "x.example"]
TYPES = ["A", "AAAA", "SRV", "SOA", "NS", "TXT", "ANY"]


def query(name: str, rdtype: str | int, qid: int = 7, edns: int = 0, rd: bool = True) -> bytes:
    message = dns.message.make_query(name, rdtype, use_edns=edns if edns >= 0 else False)
    message.id = qid
    if not rd:
        message.flags &= ~dns.flags.RD
    return message.to_wire()


def fresh(warm: Responder, packet: bytes) -> bytes | None:
    """What the full path answers: the same zone with its memo emptied first."""
    warm.zone.memo.forget()
    return warm.respond(packet, True)


def test_random_case_question_is_answered_from_the_memo_with_the_askers_bytes() -> None:
    warm = responder()
    warm.respond(query("foo.global", "A"), True)
    asked = query("fOo.GLObal", "A", qid=9)
    reply = warm.respond(asked, True)
    assert len(warm.zone.memo) == 1  # one entry for both spellings
    assert reply is not None and reply[12:28] == asked[12:28]
    assert reply == fresh(warm, asked)


@settings(max_examples=300, deadline=None)
@given(
    asked=st.lists(
        st.tuples(
            st.sampled_from(NAMES),
            st.sampled_from(TYPES),
            st.lists(st.booleans(), min_size=20, max_size=20),
            st.integers(0, 65535),
            st.sampled_from([-1, 0]),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_memo_replies_equal_full_path_replies(
    asked: list[tuple[str, str, list[bool], int, int, bool]],
) -> None:
    warm = responder()
    packets = []
    for name, rdtype, upper, qid, edns, rd in asked:
        spelled = "".join(c.upper() if up else c for c, up in zip(name, upper, strict=False))
        packets.append(query(spelled + name[len(upper) :], rdtype, qid, edns, rd))
    for packet in packets + packets:  # the second time round, every question is remembered
        assert warm.respond(packet, True) == fresh(warm, packet)
        warm.respond(packet, True)


def test_questions_that_differ_outside_the_name_by_letter_case_are_kept_apart() -> None:
    warm = responder()
    for rdtype in (0x61, 0x41, 0x41):  # lower() would turn qtype 65 (HTTPS) into 97
        warm.respond(query("foo.global", rdtype), True)
    assert warm.counters.by_type[0x41] == 2
    assert warm.counters.by_type[0x61] == 1


@pytest.mark.parametrize("complete", [True, False], ids=["nxdomain", "servfail-while-syncing"])
def test_made_up_names_do_not_evict_remembered_answers(complete: bool) -> None:
    warm = responder()
    warm.zone.set_complete(complete)  # incomplete: names nobody holds answer SERVFAIL
    known = query("foo.global", "A")
    warm.respond(known, True)
    for n in range(2 * RECENT_MAX):  # a random-subdomain flood: every name NXDOMAIN
        warm.respond(query(f"made-up-{n}.global", "A"), True)
    assert known[10:] in warm.zone.memo.entries
