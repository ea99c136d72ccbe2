"""The table against a second implementation of SPEC §§1 and 2, over random runs of source events.

Hypothesis drives `Table` through the `TableSink` front the sources use (clusters join, change
region and gateways, go stale and leave; Services and ServiceEntries come and go; readiness
and probe verdicts flip) and `reference_model.Mesh` with the same events. After every step,
each name of a fixed universe is asked for A, AAAA and SRV as a client would (query bytes
through the `Responder`, parsed by dnspython; pinned names are compiled on those queries), and
the reply must equal the model's: rcode, addresses per group of equal preference, SRV port and
target. The pools are small and hyphenated so that names collide in every way SPEC §1 names:
identity labels, a service name spelling another's pinned name, a cluster named like a region,
ServiceEntry hosts over all of them.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import dns.message
import dns.rdatatype
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from globaldns.dns.responder import Responder
from globaldns.dns.zone import ZoneConfig
from globaldns.table.model import Cluster, Entry, GatewayHealth, Instance, Port
from globaldns.table.table import Table
from tests.table.reference_model import (
    ZONE,
    Mesh,
    PortSpec,
    Rcode,
    Reply,
    Service,
    ServiceEntry,
    global_name,
    pinned,
)

CLUSTERS = ("a", "b", "a-b")  # `x` pinned to `a-b` spells `x-a` pinned to `b`
# A region named like a cluster (`x-b` is both pins); `east` twice, so clusters often share the
# local cluster's region and answers come in two groups.
REGIONS = ("east", "east", "b", None)
NAMESPACE = "ns"
SERVICES = ("x", "x-a", "y")  # Service names, all in one namespace
# Identity label values: one per name and one that shares a name with a pinned name; `z.x-a`
# sits below `x-a`; `X-B` differs from `x-b` only in case.
IDENTITIES = (None, None, "x", "x-a", "x-b", "X-B", "z.x-a")
ENTRY_HOSTS = ("x-a", "x.ns", "x-a-b.ns", "Y-East.ns", "w")
ENTRY_KEYS = ("ns/se1", "ns/se2")
ENTRY_ADDRESSES = ("240.0.0.1", "240.0.0.2", "2001:db8:f::1")
PORTS: tuple[PortSpec, ...] = (("http", 80, "TCP"), ("http", 8080, "TCP"), ("dns", 53, "UDP"))
SRV_PREFIXES = ("_http._tcp", "_dns._udp")
DOWN = "refused 3 times"


def gateway_pool(cluster: str) -> tuple[str, ...]:
    """Each cluster's own gateway addresses, IPv4 and IPv6."""
    i = CLUSTERS.index(cluster) + 1
    return (f"192.0.2.{10 * i + 1}", f"192.0.2.{10 * i + 2}", f"2001:db8::{i}:1")


def service_addresses(
    cluster: str, key: str, headless: bool, families: str, ready: int
) -> tuple[str, ...]:
    """ClusterIPs (one per family), or for a headless Service its ready endpoints' addresses."""
    c, k = CLUSTERS.index(cluster) + 1, SERVICES.index(key.split("/")[1]) + 1
    count = ready if headless else 1
    out = []
    for n in range(count):
        if "4" in families:
            out.append(f"10.{c}.{k}.{n + 1}")
        if "6" in families:
            out.append(f"fd00::{c}:{k}:{n + 1}")
    return tuple(out)


def universe() -> list[str]:
    """Every name the pools can spell: hosts, their pinned names, a parent, a name nobody has."""
    hosts = {global_name(s, NAMESPACE, i) for s in SERVICES for i in IDENTITIES}
    hosts |= {h.lower() for h in ENTRY_HOSTS}
    suffixes = {*CLUSTERS, *(r for r in REGIONS if r)}
    names = hosts | {pinned(h, s) for h in hosts for s in suffixes}
    return sorted(names | {NAMESPACE, "nothing"})


NAMES = universe()


def mixed_case(name: str, turn: int) -> str:
    """The name with some letters upper-cased (DNS 0x20), differently each turn."""
    return "".join(ch.upper() if (i + turn) % 3 == 0 else ch for i, ch in enumerate(name))


def to_ports(specs: tuple[PortSpec, ...]) -> tuple[Port, ...]:
    return tuple(Port(name, number, protocol) for name, number, protocol in specs)


port_lists = st.lists(st.sampled_from(PORTS), max_size=2, unique=True).map(tuple)


class TableMachine(RuleBasedStateMachine):
    """One table and one model, fed the same events; compared after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.table: Table
        self.mesh: Mesh
        self.responder: Responder
        self.stale: set[str] = set()
        self.shapes: dict[tuple[str, str], tuple[bool, str]] = {}  # headless, address families
        self.in_turns = False  # commit in budgeted turns of one name each, as the serving loop
        self.turn = 0
        self.clock = itertools.count(1)

    @initialize(local=st.sampled_from(CLUSTERS))
    def start(self, local: str) -> None:
        self.table = Table(ZoneConfig(zone=ZONE), local_cluster=local)
        self.mesh = Mesh(local)
        self.responder = Responder(self.table.zone)

    # -- helpers --------------------------------------------------------------------------
    def live(self) -> list[str]:
        """Joined clusters whose API answers (a stale cluster's objects cannot change)."""
        return sorted(c for c in self.mesh.clusters if c not in self.stale)

    def commit(self) -> None:
        if not self.in_turns:
            assert self.table.commit()
            return
        for _ in range(10_000):
            if self.table.commit(0.0):
                return
        raise AssertionError("commit never finished")

    def send_service(self, cluster: str, key: str, service: Service | None) -> None:
        self.mesh.put_service(cluster, key, service)
        instance = None
        if service is not None:
            instance = Instance(
                service.host, service.addresses, service.ready, to_ports(service.ports)
            )
        self.table.put_instance(cluster, key, instance)

    # -- rules: clusters --------------------------------------------------------------------
    @rule(
        data=st.data(),
        region=st.sampled_from(REGIONS),
        gateway_ready=st.sampled_from([True, True, True, False]),
    )
    def put_cluster(self, data: st.DataObject, region: str | None, gateway_ready: bool) -> None:
        """A cluster joins, or its region, gateways or gateway Service readiness change."""
        cluster = data.draw(st.sampled_from([c for c in CLUSTERS if c not in self.stale]))
        gateways = tuple(data.draw(st.lists(st.sampled_from(gateway_pool(cluster)), unique=True)))
        self.mesh.put_cluster(cluster, region, gateways, gateway_ready)
        self.table.put_cluster(Cluster(cluster, region, gateways, 15443, gateway_ready))
        self.commit()

    @precondition(lambda self: any(c != self.mesh.local for c in self.live()))
    @rule(data=st.data())
    def go_stale(self, data: st.DataObject) -> None:
        """A remote API stops answering: what it said keeps serving (nothing reaches the table)."""
        remote = [c for c in self.live() if c != self.mesh.local]
        self.stale.add(data.draw(st.sampled_from(remote)))

    @precondition(lambda self: bool(self.stale))
    @rule(data=st.data())
    def come_back(self, data: st.DataObject) -> None:
        """A stale cluster answers again; its relist removes, in one batch, what went meanwhile."""
        cluster = data.draw(st.sampled_from(sorted(self.stale)))
        self.stale.discard(cluster)
        mine = sorted(key for c, key in self.mesh.services if c == cluster)
        for key in data.draw(st.lists(st.sampled_from(mine), unique=True)) if mine else []:
            self.send_service(cluster, key, None)
        self.commit()

    @precondition(lambda self: bool(self.stale))
    @rule(data=st.data())
    def stale_too_long(self, data: st.DataObject) -> None:
        """Past serve-stale the cluster is withdrawn, with all it contributed."""
        cluster = data.draw(st.sampled_from(sorted(self.stale)))
        self.stale.discard(cluster)
        self.mesh.drop_cluster(cluster)
        self.table.drop_cluster(cluster)
        self.commit()

    @precondition(lambda self: any(self.mesh.clusters[c].gateways for c in self.mesh.clusters))
    @rule(data=st.data(), up=st.sampled_from([False, False, True, None]))
    def probe(self, data: st.DataObject, up: bool | None) -> None:
        """A probe verdict on a listed gateway address (stale clusters are probed too)."""
        listed = [(c, a) for c, s in sorted(self.mesh.clusters.items()) for a in s.gateways]
        cluster, address = data.draw(st.sampled_from(listed))
        self.mesh.probe(cluster, address, up)
        health = (
            None if up is None else GatewayHealth(up, float(next(self.clock)), "" if up else DOWN)
        )
        self.table.put_gateway_health(cluster, address, health)
        self.commit()

    # -- rules: services and entries --------------------------------------------------------
    @precondition(lambda self: bool(self.live()))
    @rule(
        data=st.data(),
        everywhere=st.booleans(),
        identity=st.sampled_from(IDENTITIES),
        headless=st.booleans(),
        families=st.sampled_from(["4", "6", "46"]),
        ports=port_lists,
    )
    def put_service(
        self,
        data: st.DataObject,
        everywhere: bool,
        identity: str | None,
        headless: bool,
        families: str,
        ports: tuple[PortSpec, ...],
    ) -> None:
        """A Service (with its EndpointSlices) appears or changes in one cluster, or in every
        cluster at once (as a mesh deploys it), each with its own ready endpoints."""
        live = self.live()
        clusters = live if everywhere else [data.draw(st.sampled_from(live))]
        name = data.draw(st.sampled_from(SERVICES))
        key = f"{NAMESPACE}/{name}"
        host = global_name(name, NAMESPACE, identity)
        for cluster in clusters:
            ready = data.draw(st.integers(0, 2))
            addresses = service_addresses(cluster, key, headless, families, ready)
            self.shapes[(cluster, key)] = (headless, families)
            self.send_service(cluster, key, Service(host, addresses, ready, ports))
        self.commit()

    def services_of_live(self) -> list[tuple[str, str]]:
        return sorted(w for w in self.mesh.services if w[0] not in self.stale)

    @precondition(lambda self: bool(self.services_of_live()))
    @rule(data=st.data(), ready=st.integers(0, 2))
    def flip_readiness(self, data: st.DataObject, ready: int) -> None:
        """Endpoints become ready or not; a headless Service's addresses follow them."""
        cluster, key = data.draw(st.sampled_from(self.services_of_live()))
        old = self.mesh.services[(cluster, key)]
        headless, families = self.shapes[(cluster, key)]
        addresses = service_addresses(cluster, key, headless, families, ready)
        self.send_service(cluster, key, Service(old.host, addresses, ready, old.ports))
        self.commit()

    @precondition(lambda self: bool(self.services_of_live()))
    @rule(data=st.data())
    def remove_service(self, data: st.DataObject) -> None:
        cluster, key = data.draw(st.sampled_from(self.services_of_live()))
        self.send_service(cluster, key, None)
        self.commit()

    @precondition(lambda self: bool(self.live()))
    @rule(
        data=st.data(),
        key=st.sampled_from(ENTRY_KEYS),
        hosts=st.lists(st.sampled_from(ENTRY_HOSTS), min_size=1, max_size=2, unique=True),
        addresses=st.lists(st.sampled_from(ENTRY_ADDRESSES), min_size=1, max_size=2, unique=True),
        ports=port_lists,
    )
    def put_entry(
        self,
        data: st.DataObject,
        key: str,
        hosts: list[str],
        addresses: list[str],
        ports: tuple[PortSpec, ...],
    ) -> None:
        """A ServiceEntry with `.global` hosts appears or changes."""
        cluster = data.draw(st.sampled_from(self.live()))
        self.mesh.put_entry(cluster, key, ServiceEntry(tuple(hosts), tuple(addresses), ports))
        self.table.put_entry(cluster, key, Entry(tuple(hosts), tuple(addresses), to_ports(ports)))
        self.commit()

    @precondition(lambda self: any(c not in self.stale for c, _ in self.mesh.entries))
    @rule(data=st.data())
    def remove_entry(self, data: st.DataObject) -> None:
        cluster, key = data.draw(
            st.sampled_from(sorted(w for w in self.mesh.entries if w[0] not in self.stale))
        )
        self.mesh.put_entry(cluster, key, None)
        self.table.put_entry(cluster, key, None)
        self.commit()

    # -- rules: the table's own state ---------------------------------------------------------
    @rule(complete=st.booleans())
    def set_complete(self, complete: bool) -> None:
        """Whether every configured cluster has synced once (else a missing name is SERVFAIL)."""
        self.mesh.complete = complete
        self.table.set_complete(complete)
        self.commit()

    @rule(in_turns=st.booleans())
    def commit_in_turns(self, in_turns: bool) -> None:
        """Later commits run in budgeted turns (one name each) or all at once."""
        self.in_turns = in_turns

    # -- the check ------------------------------------------------------------------------------
    @invariant()
    def every_name_answers_as_the_model_says(self) -> None:
        self.turn += 1
        for name in NAMES:
            exists = False
            for qtype in ("A", "AAAA"):
                exists |= self.check(name, qtype)
            if exists or self.mesh.reply(name, "A").rcode != Rcode.NXDOMAIN:
                for prefix in SRV_PREFIXES:
                    self.check(f"{prefix}.{name}", "SRV")

    @invariant()
    def the_index_holds_each_hosts_unready_clusters(self) -> None:
        """What the remote tier reads instead of every instance (`Index.unready`)."""
        index = self.table.index
        held = {h: {c for c, i in by.items() if i.ready <= 0} for h, by in index.merged.items()}
        assert index.unready == {host: clusters for host, clusters in held.items() if clusters}

    def check(self, name: str, qtype: str) -> bool:
        """Ask the table's zone one question; compare with the model. Whether it answered.

        A question whose answer has a group of several addresses is asked once per address of
        the longest group: round robin lets every address of a group lead in turn, and no
        address of a later group lead before the earlier group's (SPEC §2).
        """
        asked = mixed_case(f"{name}.{ZONE}.", self.turn)
        where = f"{asked} {qtype}"
        sent = query(asked, qtype)
        expected = self.mesh.reply(name, qtype)
        leaders: list[set[str]] = [set() for _ in expected.groups]
        for _ in range(max((len(group) for group in expected.groups), default=1)):
            raw = self.responder.respond(sent, True)
            assert raw is not None
            parsed = parse(raw)
            seen = parsed.as_model_reply(expected)
            assert seen == expected, f"{where}: table {seen} != model {expected}"
            for led, segment in zip(leaders, parsed.segments(expected), strict=False):
                led.add(segment[0])
            assert parsed.question == sent[12 : 12 + len(parsed.question)], f"{where}: echo"
            negative = not (parsed.answer or parsed.srv) and parsed.rcode != Rcode.SERVFAIL
            assert parsed.soa == negative, f"{where}: SOA {parsed.soa}"
        assert leaders == [set(group) for group in expected.groups], f"{where}: led {leaders}"
        return expected.rcode == Rcode.NOERROR


@functools.lru_cache(maxsize=1024)
def query(asked: str, qtype: str) -> bytes:
    """A query with EDNS (so no answer is truncated), built by dnspython; the same bytes for
    the same question, so the replies to it can be parsed once."""
    message = dns.message.make_query(asked, qtype, use_edns=0, payload=4096)
    message.id = 4660
    return message.to_wire()


@dataclass(frozen=True)
class Parsed:
    """A reply as dnspython reads it: what the comparison with the model needs."""

    question: bytes  # the question section, as it came back
    rcode: Rcode
    answer: tuple[str, ...]  # addresses in the order they came
    srv: tuple[tuple[int, str], ...]  # (port, target)
    additional: tuple[str, ...]
    soa: bool  # whether the authority section holds the zone's SOA (negative answers)

    def as_model_reply(self, expected: Reply) -> Reply:
        """The reply as the model states answers.

        Within a group the order rotates, so the answer is cut where the model's groups end:
        it equals the model's groups only if it has their addresses, each group before the
        next. Duplicates are an error in either section.
        """
        assert len(self.answer) == len(set(self.answer)), self.answer
        assert len(self.additional) == len(set(self.additional)), self.additional
        assert len(self.srv) <= 1, self.srv
        if self.srv or expected.srv:
            srv = self.srv[0] if self.srv else None
            return Reply(self.rcode, srv=srv, additional=frozenset(self.additional))
        groups = tuple(frozenset(segment) for segment in self.segments(expected))
        return Reply(self.rcode, groups, additional=frozenset(self.additional))

    def segments(self, expected: Reply) -> list[tuple[str, ...]]:
        """The answer cut where the model's groups end (and the rest, if any), in order."""
        out = []
        rest = self.answer
        for group in expected.groups:
            out.append(rest[: len(group)])
            rest = rest[len(group) :]
        return [*out, rest] if rest else out


@functools.lru_cache(maxsize=4096)
def parse(raw: bytes) -> Parsed:
    """dnspython's reading of the reply; a reply is the same bytes again and again between
    changes (rotations aside), so each is parsed once."""
    reply = dns.message.from_wire(raw)
    answers = [rr for rrset in reply.answer for rr in rrset]
    question_end = raw.index(b"\0", 12) + 5  # the name (never compressed), type, class
    return Parsed(
        question=raw[12:question_end],
        rcode=Rcode(reply.rcode()),
        answer=tuple(rr.address for rr in answers if rr.rdtype != dns.rdatatype.SRV),
        srv=tuple(
            (rr.port, rr.target.to_text().lower())
            for rr in answers
            if rr.rdtype == dns.rdatatype.SRV
        ),
        additional=tuple(rr.address for rrset in reply.additional for rr in rrset),
        soa=any(rrset.rdtype == dns.rdatatype.SOA for rrset in reply.authority),
    )


TableMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no slow explain
)
test_table_answers_as_the_reference_model = TableMachine.TestCase
