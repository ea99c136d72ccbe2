"""Which differences a rule of globaldns explains (pure: replies and table rows in, a verdict
out)."""

from __future__ import annotations

from globaldns.compare.asking import Outcome, Reply
from globaldns.compare.ours import Held, Skipped
from globaldns.compare.rules import Known, Rule, Side, compare

NX = Reply(Outcome.NXDOMAIN)
NODATA = Reply(Outcome.NODATA)
SERVICE = Held("foo.global.", "service", "remote", "gateways of east")
ENTRY = Held("legacy.global.", "entry", "entry", "ServiceEntry addresses")


def addresses(*values: str) -> Reply:
    return Reply(Outcome.ADDRESSES, frozenset(values))


def verdict(theirs: Reply, ours: Reply, known: Known, globaldns: bool = False) -> Rule | None:
    difference = compare("x.global.", "A", theirs, ours, known, globaldns)
    return None if difference is None else difference.rule


def test_the_same_addresses_in_another_order_are_no_difference() -> None:
    assert (
        verdict(addresses("10.0.0.1", "10.0.0.2"), addresses("10.0.0.2", "10.0.0.1"), Known(ENTRY))
        is None
    )


def test_other_entry_addresses_are_unexplained() -> None:
    assert verdict(addresses("240.0.0.3"), addresses("240.0.0.2"), Known(ENTRY)) is Rule.UNEXPLAINED


def test_a_name_only_theirs_answers_and_ours_never_saw_is_unexplained() -> None:
    assert verdict(addresses("240.0.0.3"), NX, Known()) is Rule.UNEXPLAINED


def test_a_skipped_entry_explains_ours_not_answering() -> None:
    skipped = Skipped(
        "none.global.", "resolution_none", "ServiceEntry a/b from c has resolution NONE"
    )
    difference = compare(
        "none.global.", "A", addresses("240.0.0.9"), NX, Known(skipped=skipped), False
    )
    assert difference is not None
    assert (difference.rule, difference.side) == (Rule.SKIPPED, Side.THEIRS_ONLY)
    assert difference.why == "not served: ServiceEntry a/b from c has resolution NONE"


def test_a_service_name_istiocoredns_lacks_is_explained_as_derived() -> None:
    assert verdict(NX, addresses("192.0.2.2"), Known(SERVICE)) is Rule.DERIVED_NAME


def test_a_service_name_another_globaldns_lacks_is_unexplained() -> None:
    assert verdict(NX, addresses("192.0.2.2"), Known(SERVICE), globaldns=True) is Rule.UNEXPLAINED


def test_other_addresses_for_a_service_name_are_local_first() -> None:
    rule = verdict(addresses("10.0.0.1"), addresses("192.0.2.2"), Known(SERVICE), globaldns=True)
    assert rule is Rule.LOCAL_FIRST


def test_nodata_where_theirs_says_nxdomain_is_explained_for_a_name_ours_holds() -> None:
    assert verdict(NX, NODATA, Known(ENTRY)) is Rule.NODATA


def test_istiocoredns_fallback_address_against_the_default_address_is_explained() -> None:
    assert verdict(addresses("127.255.0.7"), addresses("240.0.0.100"), Known(ENTRY)) is (
        Rule.DEFAULT_ADDRESS
    )


def test_no_reply_from_ours_is_unexplained() -> None:
    difference = compare(
        "x.global.", "A", addresses("240.0.0.2"), Reply(Outcome.NO_REPLY), Known(ENTRY), False
    )
    assert difference is not None
    assert (difference.rule, difference.side, str(difference.ours)) == (
        Rule.UNEXPLAINED,
        Side.THEIRS_ONLY,
        "no reply",
    )


def test_an_error_rcode_is_shown_by_name() -> None:
    assert str(Reply(Outcome.ERROR, rcode="SERVFAIL")) == "SERVFAIL"
