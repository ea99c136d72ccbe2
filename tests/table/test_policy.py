"""SPEC §2 rule by rule: which addresses `policy.resolve` answers a name with, and why."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from globaldns.table.model import Cluster, GatewayHealth, Instance
from globaldns.table.policy import PolicyTier, Scope, resolve
from globaldns.table.sites import Sites, site

LOCAL = "w2"
CLUSTERS = {
    c.name: c
    for c in (
        Cluster("w2", "west", ("192.0.2.1",)),
        Cluster("w1", "west", ("192.0.2.2",)),
        Cluster("e2", "east", ("192.0.2.3", "192.0.2.4")),
        Cluster("eu", "eu", ("192.0.2.5",)),
        Cluster("bare", "east", ()),
        Cluster("dark", "east", ("192.0.2.6",), gateway_ready=False),
    )
}


def sites(clusters: dict[str, Cluster], health: dict[str, dict[str, GatewayHealth]]) -> Sites:
    """Every cluster judged, as the table keeps them: cluster -> address -> probe result."""
    return Sites(site(cluster, health.get(cluster.name, {})) for cluster in clusters.values())


DOWN = GatewayHealth(up=False, since=0.0, error="refused 3 times")
UP = GatewayHealth(up=True, since=0.0)


def runs(**ready: int) -> dict[str, Instance]:
    """The service `foo` in these clusters with these ready counts."""
    return {c: Instance("foo", (f"10.0.0.{i + 1}",), n) for i, (c, n) in enumerate(ready.items())}


@dataclass(frozen=True)
class Rule:
    says: str
    instances: dict[str, Instance]
    tier: PolicyTier
    groups: tuple[tuple[str, ...], ...]
    health: dict[str, dict[str, GatewayHealth]] = field(default_factory=dict)
    scope: Scope | None = None
    reason_has: str = ""


RULES = [
    Rule("local ready: the local addresses", runs(w2=1, e2=1), PolicyTier.LOCAL, (("10.0.0.1",),)),
    Rule(
        "local unready: ready remote gateways, same region first",
        runs(w2=0, e2=1, w1=1),
        PolicyTier.REMOTE,
        (("192.0.2.2",), ("192.0.2.3", "192.0.2.4")),
        reason_has="region west first",
    ),
    Rule(
        "not in the local cluster: remote gateways",
        runs(e2=2),
        PolicyTier.REMOTE,
        (("192.0.2.3", "192.0.2.4"),),
        reason_has="not in the local cluster",
    ),
    Rule(
        "unready remote clusters are left out",
        runs(w2=0, e2=1, eu=0),
        PolicyTier.REMOTE,
        (("192.0.2.3", "192.0.2.4"),),
        reason_has="eu skipped: 0 ready endpoints",
    ),
    Rule(
        "nobody ready, local has it: the local addresses as if ready",
        runs(w2=0, e2=0),
        PolicyTier.FAILOPEN,
        (("10.0.0.1",),),
    ),
    Rule(
        "nobody ready, local lacks it: every remote gateway as if ready",
        runs(e2=0, eu=0),
        PolicyTier.FAILOPEN,
        (("192.0.2.3", "192.0.2.4", "192.0.2.5"),),
    ),
    Rule(
        "a ready cluster without a gateway address is skipped, and says so",
        runs(w2=0, bare=3, eu=1),
        PolicyTier.REMOTE,
        (("192.0.2.5",),),
        reason_has="bare skipped: no gateway address",
    ),
    Rule(
        "a down gateway address is not answered",
        runs(e2=1),
        PolicyTier.REMOTE,
        (("192.0.2.4",),),
        health={"e2": {"192.0.2.3": DOWN, "192.0.2.4": UP}},
        reason_has="e2 skipped: 192.0.2.3 refused 3 times",
    ),
    Rule(
        "a cluster with no up gateway drops out of the remote tier",
        runs(e2=1, eu=1),
        PolicyTier.REMOTE,
        (("192.0.2.5",),),
        health={"e2": {"192.0.2.3": DOWN, "192.0.2.4": DOWN}},
        reason_has="e2 skipped: 192.0.2.3 refused 3 times; 192.0.2.4 refused 3 times",
    ),
    Rule(
        "a gateway Service without ready endpoints takes its cluster out at once",
        runs(dark=1, eu=1),
        PolicyTier.REMOTE,
        (("192.0.2.5",),),
        reason_has="dark skipped: 192.0.2.6 gateway Service has no ready endpoint",
    ),
    Rule(
        "no ready cluster has an up gateway: every gateway of the ready ones, as if up",
        runs(w2=0, e2=1, eu=1, w1=0),
        PolicyTier.FAILOPEN,
        (("192.0.2.3", "192.0.2.4", "192.0.2.5"),),
        health={"e2": {"192.0.2.3": DOWN, "192.0.2.4": DOWN}, "eu": {"192.0.2.5": DOWN}},
        reason_has="every gateway is down",
    ),
    Rule(
        "nobody ready: the remote rule as if ready, still preferring up gateways",
        runs(e2=0, eu=0),
        PolicyTier.FAILOPEN,
        (("192.0.2.5",),),
        health={"e2": {"192.0.2.3": DOWN, "192.0.2.4": DOWN}},
    ),
    Rule(
        "an address never reported is up",
        runs(e2=1),
        PolicyTier.REMOTE,
        (("192.0.2.3", "192.0.2.4"),),
        health={"e2": {"192.0.2.9": DOWN}},
    ),
    Rule(
        "the local tier is never judged by health",
        runs(w2=1),
        PolicyTier.LOCAL,
        (("10.0.0.1",),),
        health={"w2": {"192.0.2.1": DOWN}},
    ),
    Rule(
        "cluster-pinned to a remote cluster: its gateways, up or down",
        runs(e2=1),
        PolicyTier.REMOTE,
        (("192.0.2.3", "192.0.2.4"),),
        health={"e2": {"192.0.2.3": DOWN}},
        scope=Scope("cluster", "e2"),
        reason_has="pinned to cluster e2",
    ),
    Rule(
        "cluster-pinned to a cluster whose gateway Service is unready: still its gateways",
        runs(dark=1),
        PolicyTier.REMOTE,
        (("192.0.2.6",),),
        scope=Scope("cluster", "dark"),
    ),
    Rule(
        "cluster-pinned to the local cluster: its own addresses",
        runs(w2=1),
        PolicyTier.LOCAL,
        (("10.0.0.1",),),
        scope=Scope("cluster", "w2"),
        reason_has="pinned to cluster w2",
    ),
    Rule(
        "region-pinned: health within the region",
        runs(e2=1, dark=1),
        PolicyTier.REMOTE,
        (("192.0.2.4",),),
        health={"e2": {"192.0.2.3": DOWN}},
        scope=Scope("region", "east"),
        reason_has="pinned to region east: gateways of e2",
    ),
    Rule(
        "region-pinned: fails open within the region",
        runs(e2=1, dark=1),
        PolicyTier.FAILOPEN,
        (("192.0.2.6", "192.0.2.3", "192.0.2.4"),),
        health={"e2": {"192.0.2.3": DOWN, "192.0.2.4": DOWN}},
        scope=Scope("region", "east"),
    ),
    Rule(
        "region-pinned to the local region: local first",
        runs(w2=1, w1=1),
        PolicyTier.LOCAL,
        (("10.0.0.1",),),
        scope=Scope("region", "west"),
    ),
]


@pytest.mark.parametrize("rule", RULES, ids=[rule.says for rule in RULES])
def test_resolve(rule: Rule) -> None:
    resolution = resolve(rule.instances, sites(CLUSTERS, rule.health), LOCAL, rule.scope)
    assert resolution is not None
    assert (resolution.tier, resolution.groups) == (rule.tier, rule.groups)
    assert rule.reason_has in resolution.reason


def test_a_name_only_clusters_without_gateways_hold_has_no_answer() -> None:
    assert resolve(runs(bare=2), sites(CLUSTERS, {}), LOCAL) is None


def test_every_cluster_of_the_name_contributes_with_why() -> None:
    known = sites(CLUSTERS, {"eu": {"192.0.2.5": DOWN}})
    resolution = resolve(runs(w2=0, e2=1, eu=1, bare=1), known, LOCAL, explain=True)
    assert resolution is not None
    seen = {c.cluster: (c.ready, c.used, c.why) for c in resolution.contributions}
    assert seen == {
        "w2": (0, False, "local cluster: no ready endpoint"),
        "e2": (1, True, "gateways 192.0.2.3, 192.0.2.4"),
        "eu": (1, False, "192.0.2.5 refused 3 times"),
        "bare": (1, False, "no gateway address"),
    }
    eu = next(c for c in resolution.contributions if c.cluster == "eu")
    assert [(g.address, g.up, g.error) for g in eu.gateways] == [
        ("192.0.2.5", False, "refused 3 times")
    ]


def test_a_region_pinned_name_says_it_is_pinned_not_that_nothing_is_ready_locally() -> None:
    resolution = resolve(runs(e2=1), sites(CLUSTERS, {}), LOCAL, Scope("region", "east"))
    assert resolution is not None
    assert resolution.reason == "pinned to region east: gateways of e2"


def test_ready_clusters_without_a_gateway_address_are_named_as_the_cause() -> None:
    """Ready pods elsewhere but nowhere to send clients: the reason says so, not "no ready
    endpoint anywhere"."""
    resolution = resolve(runs(w2=0, bare=3), sites(CLUSTERS, {}), LOCAL)
    assert resolution is not None
    assert resolution.tier == PolicyTier.FAILOPEN
    assert resolution.reason.startswith("no gateway address for the ready cluster(s) bare")


def test_a_cluster_judged_anew_is_resolved_anew_for_the_same_ready_count() -> None:
    """Each remote cluster's part is held per ready count between resolutions (a flip of one
    of many clusters works out only that one again); a new judgement of its gateways must
    still change the answer."""
    instances = runs(w2=0, e2=1, w1=1)
    before = resolve(instances, sites(CLUSTERS, {}), LOCAL)
    after = resolve(instances, sites(CLUSTERS, {"e2": {"192.0.2.3": DOWN}}), LOCAL)
    assert before is not None and after is not None
    assert before.groups == (("192.0.2.2",), ("192.0.2.3", "192.0.2.4"))
    assert after.groups == (("192.0.2.2",), ("192.0.2.4",))


@st.composite
def names(draw: st.DrawFn) -> tuple[dict[str, Instance], Sites, str | None, Scope | None]:
    """A name run by some of up to eight clusters (some without a gateway or a site), each
    ready or not, in two regions, with gateways up, down or behind an unready Service, now
    and then one shared with another cluster."""
    clusters = [f"c{n}" for n in range(draw(st.integers(1, 8)))]
    instances = {
        c: Instance("foo", (f"10.0.0.{i + 1}",), draw(st.sampled_from((0, 0, 1, 2))))
        for i, c in enumerate(clusters)
        if draw(st.booleans())
    }
    known = Sites()
    for i, c in enumerate(clusters):
        # Mostly healthy, as under churn, where the one-pass path answers.
        if draw(st.integers(0, 19)) == 0:
            continue  # a cluster the index does not know
        count = draw(st.sampled_from((1, 1, 1, 2, 0)))
        # Now and then an address another cluster has too, or this one twice (dropped twice).
        gateways = tuple(
            f"192.0.2.{draw(st.sampled_from((i * 4 + g, i * 4 + g, i * 4 + g, 99)))}"
            for g in range(count)
        )
        cluster = Cluster(c, draw(st.sampled_from(("west", "east", None))), gateways,
                          gateway_ready=draw(st.integers(0, 19)) > 0)  # fmt: skip
        health = {a: DOWN for a in gateways if draw(st.integers(0, 9)) == 0}
        known.put(site(cluster, health))
    local = draw(st.sampled_from([None, *clusters]))
    scope = draw(st.sampled_from((None, None, Scope("region", "west"))))
    return instances, known, local, scope


@settings(max_examples=400, deadline=None)
@given(names())
def test_unexplained_resolutions_are_the_explained_ones_without_contributions(
    name: tuple[dict[str, Instance], Sites, str | None, Scope | None],
) -> None:
    """The one-pass remote tier answers, and says why (worded when read), exactly as the
    general rules do."""
    instances, known, local, scope = name
    explained = resolve(instances, known, local, scope, explain=True)
    expected = replace(explained, contributions=()) if explained is not None else None
    unexplained = resolve(instances, known, local, scope)
    worded = replace(unexplained, why=unexplained.reason) if unexplained is not None else None
    assert worded == expected
