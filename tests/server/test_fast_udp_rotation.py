"""Rotated answers: the compiled loop serves them from its memo in the pure loop's order.

The pure responder is the reference: the same run of questions goes to a responder behind the
compiled loop and to a twin called directly, and every reply must be equal byte for byte, query
after query, so the order of the records (which rotate on every answer) is compared too.
"""

from __future__ import annotations

import random

import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import pytest

from globaldns.dns.zone_config import ZoneConfig
from globaldns.server.counters import TransportCounters
from tests.server.test_fast_udp import (
    DEFAULT,
    FastUdp,
    compiled,
    query,
    spelled,
    twin_responder,
)

pytestmark = pytest.mark.skipif(FastUdp is None, reason="the compiled UDP loop is not built")
ROUNDS = 40  # queries per name: more than the rotations of any answer (at most 16)


def first_records(reply: bytes) -> str:
    """The first record of the reply's answer section, as text."""
    answer = dns.message.from_wire(reply).answer
    return answer[0][0].to_text() if answer else ""


def run(questions: list[bytes], config: ZoneConfig = DEFAULT) -> tuple[list[bytes | None], int]:
    """Each question through the compiled loop, checked against the twin as it goes: the replies
    and how many packets entered Python."""
    twin = twin_responder(config)
    replies: list[bytes | None] = []
    with compiled(TransportCounters(), config) as (served, pair):
        for packet in questions:
            reply = pair.exchange(packet)
            assert reply == twin.respond(packet, True)
            replies.append(reply)
        assert served.counters == twin.counters
    return replies, pair.entered_python


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [("pool.global", "A"), ("wide.global", "A"), ("away.global", "A"), ("big.global", "A")],
)
def test_consecutive_answers_rotate_in_the_pure_loops_order(name: str, rdtype: str) -> None:
    replies, _ = run([query(name, rdtype, i, edns=True) for i in range(ROUNDS)])
    if name != "big.global":  # 100 addresses: truncated, no records to rotate
        assert len({first_records(reply) for reply in replies if reply}) > 1


@pytest.mark.parametrize("name", ["wide.global", "away.global"])
def test_answers_cut_to_max_answers_rotate_in_the_pure_loops_order(name: str) -> None:
    """Three records of forty (`wide`), or of two groups of two (`away`: the cut falls in the
    second group): each order is cut after its third record, in both loops alike."""
    replies, entered = run(
        [query(name, "A", i, edns=True) for i in range(ROUNDS)], ZoneConfig(max_answers=3)
    )
    assert entered == 1
    assert {len(dns.message.from_wire(reply or b"").answer[0]) for reply in replies} == {3}
    assert len({first_records(reply) for reply in replies if reply}) > 1


def test_remembered_rotations_are_answered_without_entering_python() -> None:
    names = ["pool.global", "wide.global", "away.global", "big.global"]
    questions = [query(name, "A", i, edns=True) for i in range(ROUNDS) for name in names]
    _, entered = run(questions)
    assert entered == len(names)  # the first question of each: the memo did not know it


def test_rotation_order_holds_in_random_letter_case() -> None:
    rng = random.Random(7)
    questions = [
        query(spelled(name, [rng.random() < 0.5 for _ in name]), "A", i, edns=True)
        for i in range(ROUNDS)
        for name in ("pool.global", "away.global", "wide.global")
    ]
    replies, entered = run(questions)
    assert entered == 3
    assert all(reply is not None for reply in replies)


def test_truncated_and_whole_answers_of_one_name_share_its_rotation() -> None:
    """`wide` fits with EDNS and not without (TC, no records): both advance the same turn."""
    questions = [query("wide.global", "A", i, edns=bool(i % 3)) for i in range(ROUNDS)]
    replies, entered = run(questions)
    truncated = [reply for reply in replies if reply and dns.flags.TC & reply[2] << 8]
    assert truncated and len(truncated) < len(replies)
    assert entered == 2


def test_rotation_order_holds_with_and_without_rd_and_edns_mixed() -> None:
    rng = random.Random(11)
    questions = [
        query(name, rdtype, i, edns=rng.random() < 0.5, rd=rng.random() < 0.5)
        for i in range(ROUNDS)
        for name, rdtype in (("pool.global", "A"), ("away.global", "AAAA"), ("big.global", "A"))
    ]
    run(questions)


def test_srv_with_additional_data_is_answered_without_entering_python() -> None:
    questions = [
        query(name, "SRV", i, edns=bool(i % 2))
        for i in range(ROUNDS)
        for name in ("_http._tcp.pool.global", "_http._tcp.wide.global")
    ]
    replies, entered = run(questions)
    assert entered == 4  # each name with and without EDNS, once
    assert dns.message.from_wire(replies[0] or b"").find_rrset(
        dns.message.ADDITIONAL,
        dns.name.from_text("pool.global"),
        dns.rdataclass.IN,
        dns.rdatatype.A,
    )
