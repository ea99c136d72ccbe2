"""Random meshes as plain steps, replayed into a table, and everything a table shows of them.

A mesh is a list of steps (JSON-able lists, so a run can be recorded and replayed): clusters
join, move and leave, Services and ServiceEntries come and go, probe verdicts arrive, names are
asked for between commits. `capture` is what the table gives out after them: the zone file
(`globaldns table --format zone`), the wire replies to A, AAAA, SRV and ANY at every name,
its SRV names and a name below it, the views of `/table` with each name explained, the
gateways, the counters. `fixtures/meshes.json.gz` holds a few hundred meshes and what the table
gave for them before it was split (issue 18; recorded by commit e0c25db, which kept the old
table beside the new one), which `test_equivalence.py` holds it to.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import dns.message
from hypothesis import strategies as st

from globaldns.dns.responder import Responder
from globaldns.dns.wire import Unfit
from globaldns.dns.zone import Zone, ZoneConfig
from globaldns.table import render
from globaldns.table.model import Cluster, Entry, GatewayHealth, Instance, Port

FIXTURES = Path(__file__).parent / "fixtures" / "meshes.json.gz"
ZONE_CONFIG = ZoneConfig(zone="global", ttl=5, default_addresses=("240.0.9.9",))
CLUSTERS = ("a", "b", "c", "b-c", "d")  # `foo` pinned to `b-c` spells `foo-b` pinned to `c`
REGIONS = ("west", "east", "c", None)  # a region named like a cluster
HOSTS = (
    "foo",
    "foo-b",
    "foo-b-c",
    "bar.ns",
    "x.foo-b",
    "Foo",
    "x" * 60,
)  # pins too long (but one per name)
ENTRY_HOSTS = ("foo", "foo-east", "bar.ns", "se.ns.", "Se.NS", "x" * 64)
ADDRESSES = ("10.0.0.1", "10.0.0.2", "10.1.0.1", "fd00::1", "fd00::2")
GATEWAYS = ("192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1")
ENTRY_ADDRESSES = ("240.0.0.1", "240.0.0.2", "2001:db8:f::1")
PORTS = (("http", 80, "TCP"), ("http", 8080, "TCP"), ("dns", 53, "UDP"), ("", 9, "TCP"))
QTYPES = ("A", "AAAA", "SRV", "ANY")

Step = list[Any]


class Front(Protocol):
    """What a table shows: the sink methods and the readings `capture` uses."""

    zone: Zone

    def commit(self, budget: float | None = None) -> bool: ...


def _ports() -> st.SearchStrategy[list[list[Any]]]:
    return st.lists(st.sampled_from(PORTS).map(list), max_size=3)


def _clusters() -> st.SearchStrategy[Step]:
    return st.tuples(
        st.just("cluster"),
        st.sampled_from(CLUSTERS),
        st.sampled_from(REGIONS),
        st.lists(st.sampled_from(GATEWAYS), max_size=3, unique=True),
        st.sampled_from([None, 15443]),
        st.sampled_from([True, True, True, False]),
    ).map(list)


def _instances() -> st.SearchStrategy[Step]:
    return st.tuples(
        st.just("instance"),
        st.sampled_from(CLUSTERS),
        st.sampled_from(["ns/one", "ns/two", "other/one"]),
        st.one_of(st.none(), st.sampled_from(HOSTS), st.sampled_from(HOSTS)),
        st.lists(st.sampled_from(ADDRESSES), max_size=3, unique=True),
        st.integers(0, 2),
        _ports(),
    ).map(list)


def _steps() -> st.SearchStrategy[Step]:
    cluster = st.sampled_from(CLUSTERS)
    return st.one_of(
        _clusters(),
        _instances(),
        _instances(),
        st.tuples(st.just("drop"), cluster).map(list),
        st.tuples(
            st.just("entry"),
            cluster,
            st.sampled_from(["ns/se1", "ns/se2"]),
            st.one_of(st.none(), st.lists(st.sampled_from(ENTRY_HOSTS), min_size=1, max_size=2)),
            st.lists(st.sampled_from(ENTRY_ADDRESSES), max_size=2, unique=True),
            _ports(),
            st.sampled_from(["", "ns/se"]),
            st.sampled_from([None, None, None, int(Unfit.RESOLUTION_NONE), int(Unfit.WIDE_CIDR)]),
        ).map(list),
        st.tuples(
            st.just("health"),
            cluster,
            st.sampled_from(GATEWAYS),
            st.one_of(
                st.none(),
                st.tuples(st.booleans(), st.integers(1, 9), st.sampled_from(["", "refused"])).map(
                    list
                ),
            ),
        ).map(list),
        st.tuples(st.just("complete"), st.booleans()).map(list),
        st.tuples(st.just("commit"), st.booleans()).map(list),
        st.tuples(st.just("ask"), st.sampled_from(_ASKED), st.sampled_from(QTYPES)).map(list),
    )


def _asked() -> tuple[str, ...]:
    """Names a step may ask for: hosts and their pinned names, and what sits around them."""
    suffixes = {*CLUSTERS, *(r for r in REGIONS if r)}
    hosts = {h.lower() for h in HOSTS} | {"se.ns", "foo-east"}
    pins = {f"{h.split('.')[0]}-{s}" for h in hosts for s in suffixes if "." not in h}
    names = hosts | pins | {"_http._tcp.foo", "_http._tcp.foo-b", "ns", "none"}
    return tuple(sorted(n for n in names if max(map(len, n.split("."))) <= 63))


_ASKED = _asked()

meshes: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "local": st.sampled_from([*CLUSTERS[:3], None]),
        "steps": st.tuples(
            st.lists(_clusters(), min_size=1, max_size=4),
            st.lists(_instances(), min_size=1, max_size=6),
            st.lists(_steps(), min_size=5, max_size=40),
        ).map(lambda parts: [*parts[0], *parts[1], *parts[2], ["commit", False]]),
    }
)


def _to_ports(specs: list[list[Any]]) -> tuple[Port, ...]:
    return tuple(Port(name, number, protocol) for name, number, protocol in specs)


def _query(name: str, qtype: str) -> bytes:
    query = dns.message.make_query(f"{name}.{ZONE_CONFIG.zone}.", qtype, use_edns=0)
    query.id = 4660
    return query.to_wire()


def replay(make: Callable[[ZoneConfig, str | None], Any], mesh: dict[str, Any]) -> dict[str, Any]:
    """A table made by `make`, fed the mesh's steps; what it shows after each ask and at the end."""
    table = make(ZONE_CONFIG, mesh["local"])
    responder = Responder(table.zone)
    replies: list[str] = []
    clock = 1_800_000_000
    for step in mesh["steps"]:
        kind, *args = step
        if kind == "cluster":
            name, region, gateways, probe_port, ready = args
            table.put_cluster(Cluster(name, region, tuple(gateways), probe_port, ready))
        elif kind == "drop":
            table.drop_cluster(args[0])
        elif kind == "instance":
            cluster, key, host, addresses, ready, ports = args
            instance = (
                None if host is None else Instance(host, tuple(addresses), ready, _to_ports(ports))
            )
            table.put_instance(cluster, key, instance)
        elif kind == "entry":
            cluster, key, hosts, addresses, ports, name, skipped = args
            entry = None
            if hosts is not None:
                reason = None if skipped is None else Unfit(skipped)
                entry = Entry(tuple(hosts), tuple(addresses), _to_ports(ports), name, reason)
            table.put_entry(cluster, key, entry)
        elif kind == "health":
            cluster, address, verdict = args
            health = None if verdict is None else GatewayHealth(verdict[0], verdict[1], verdict[2])
            table.put_gateway_health(cluster, address, health)
        elif kind == "complete":
            table.set_complete(args[0])
        elif kind == "commit":
            clock += 1
            table.note_time(float(clock))
            _commit(table, budgeted=args[0])
        elif kind == "ask":
            replies.append((responder.respond(_query(*args), True) or b"").hex())
    return {"replies": replies, **capture(table)}


def _commit(table: Front, budgeted: bool) -> None:
    """A whole commit, or budgeted turns of one name each until it is done."""
    if not budgeted:
        assert table.commit()
        return
    for _ in range(100_000):
        if table.commit(0.0):
            return
    raise AssertionError("commit never finished")


def capture(table: Any) -> dict[str, Any]:
    """The zone file, every name's replies, the views explained, gateways and counters."""
    responder = Responder(table.zone)
    answers: dict[str, list[str]] = {}
    names = sorted(table.names())
    for name in names:
        view = table.lookup(name)
        asked = [name, f"x.{name}", f"_tcp.{name}"]
        if view is not None:
            asked += [f"_{p.name}._{p.protocol.lower()}.{name}" for p in view.ports if p.name]
        for one in asked:
            answers[one] = [
                (responder.respond(_query(one, qtype), True) or b"").hex()
                for qtype in QTYPES
                for _ in range(2)
            ]
    return {
        "zone": render.as_zone(table),
        "views": render.as_json(table.views(), ZONE_CONFIG.zone),
        "explained": render.as_json(
            [v for v in (table.lookup(n) for n in [*names, *sorted(table.unserved)]) if v],
            ZONE_CONFIG.zone,
        ),
        "gateways": render.gateways_json(table),
        "gateways_text": render.gateways_text(table),
        "answers": answers,
        "counters": [
            table.size,
            table.conflicts,
            table.internal_errors,
            _recorded_reasons(table.skipped),
            table.pending,
            table.zone.serial,
        ],
    }


RECORDED_REASONS = 6  # Unfit's reasons when the meshes were recorded


def _recorded_reasons(skipped: list[int]) -> list[int]:
    """The skipped-names counters of the reasons the recording knew; a reason added since
    (OUTSIDE_ZONE: no step lists a host outside the zone) must stay at zero."""
    assert not any(skipped[RECORDED_REASONS:]), skipped
    return skipped[:RECORDED_REASONS]


def load() -> list[dict[str, Any]]:
    """The recorded meshes, each with what the table showed (`shown`)."""
    with gzip.open(FIXTURES, "rt", encoding="utf-8") as file:
        recorded: list[dict[str, Any]] = json.load(file)
    return recorded
