"""What operators read: one name explained, SRV rows, gateway health (issue 9.4)."""

from __future__ import annotations

import pytest

from globaldns.dns.zone import ZoneConfig
from globaldns.sources.status import Registry, State
from globaldns.table.model import Cluster, GatewayHealth, Instance, Port
from globaldns.table.render import as_json, as_text, clusters_text, gateways_json, gateways_text
from globaldns.table.table import Table

DOWN = GatewayHealth(up=False, since=1700000000.0, error="refused 3 times")


@pytest.fixture
def table() -> Table:
    """foo: unready in uswest2 (local), ready in useast2 and in euwest1 (which has no gateway)."""
    t = Table(ZoneConfig(), local_cluster="uswest2")
    t.put_cluster(Cluster("uswest2", "west", ("192.0.2.1",)))
    t.put_cluster(Cluster("useast2", "east", ("192.0.2.7", "192.0.2.8"), probe_port=15443))
    t.put_cluster(Cluster("euwest1", "eu", ()))
    t.put_instance("uswest2", "ns/foo", Instance("foo", ("10.0.0.1",), 0, (Port("http", 80),)))
    t.put_instance("useast2", "ns/foo", Instance("foo", ("10.1.0.1",), 3, (Port("http", 80),)))
    t.put_instance("euwest1", "ns/foo", Instance("foo", ("10.2.0.1",), 2))
    t.commit()
    return t


@pytest.mark.parametrize(
    "asked", ["foo", "FOO", "foo.global", "Foo.Global.", "_http._tcp.foo.global."]
)
def test_lookup_takes_any_spelling_of_the_name(table: Table, asked: str) -> None:
    view = table.lookup(asked)
    assert view is not None and view.name == "foo"


def test_lookup_of_an_unknown_name_is_none(table: Table) -> None:
    assert table.lookup("nope.global") is None


def test_a_pinned_name_gives_the_pin_as_its_reason(table: Table) -> None:
    view = table.lookup("foo-east")
    assert view is not None and view.reason.startswith("pinned to region east:")


def test_a_ready_cluster_without_a_gateway_says_so(table: Table) -> None:
    view = table.lookup("foo")
    assert view is not None and "euwest1 skipped: no gateway address" in view.reason


def test_a_reason_names_the_gateway_skipped_by_health_and_its_error(table: Table) -> None:
    table.put_gateway_health("useast2", "192.0.2.7", DOWN)
    table.commit()
    view = table.lookup("foo")
    assert view is not None
    assert "useast2 skipped: 192.0.2.7 refused 3 times" in view.reason
    assert view.addresses == ("192.0.2.8",)


def test_an_explained_name_has_every_clusters_contribution(table: Table) -> None:
    table.put_gateway_health("useast2", "192.0.2.7", DOWN)
    table.commit()
    view = table.lookup("foo")
    assert view is not None
    by_cluster = {c.cluster: c for c in view.contributions}
    assert sorted(by_cluster) == ["euwest1", "useast2", "uswest2"]
    east = by_cluster["useast2"]
    assert (east.ready, east.used) == (3, True)
    assert [(g.address, g.up, g.error) for g in east.gateways] == [
        ("192.0.2.7", False, "refused 3 times"),
        ("192.0.2.8", True, ""),
    ]
    assert (by_cluster["euwest1"].used, by_cluster["euwest1"].why) == (False, "no gateway address")
    contributions = as_json([view], "global")[0]["contributions"]
    assert isinstance(contributions, list) and len(contributions) == 3


def test_the_text_table_has_srv_rows(table: Table) -> None:
    rows = [line.split() for line in as_text(table.views(), "global").splitlines()]
    srv = [row for row in rows if row[1] == "SRV" and row[0] == "_http._tcp.foo.global."]
    assert srv and srv[0][4:8] == ["0", "100", "80", "foo.global."]


def test_the_text_of_an_explained_name_shows_each_clusters_health(table: Table) -> None:
    table.put_gateway_health("useast2", "192.0.2.7", DOWN)
    table.commit()
    text = as_text([view for view in [table.lookup("foo")] if view is not None], "global")
    assert "  useast2: used, 3 ready:" in text
    assert "[gateways: 192.0.2.7 down, 192.0.2.8 up]" in text


def test_gateway_health_per_cluster_in_json(table: Table) -> None:
    table.put_gateway_health("useast2", "192.0.2.7", DOWN)
    east = next(c for c in gateways_json(table) if c["cluster"] == "useast2")
    assert east == {
        "cluster": "useast2",
        "region": "east",
        "local": False,
        "probePort": 15443,
        "gatewayReady": True,
        "gateways": [
            {
                "address": "192.0.2.7",
                "up": False,
                "since": 1700000000.0,
                "error": "refused 3 times",
                "lastError": "refused 3 times",
            },
            {"address": "192.0.2.8", "up": True, "since": None, "error": "", "lastError": ""},
        ],
    }


def test_an_unready_gateway_service_shows_every_address_down(table: Table) -> None:
    table.put_cluster(Cluster("useast2", "east", ("192.0.2.7",), gateway_ready=False))
    text = gateways_text(table)
    line = next(line for line in text.splitlines() if "192.0.2.7" in line)
    assert line.split()[3] == "down" and "gateway Service has no ready endpoint" in line


def test_the_local_clusters_gateways_show_as_not_probed(table: Table) -> None:
    local = table.local
    assert local is not None
    table.put_cluster(Cluster(local, "west", ("192.0.2.1",)))
    line = next(line for line in gateways_text(table).splitlines() if "192.0.2.1" in line)
    assert "local, not probed" in line
    (row,) = [row for row in gateways_json(table) if row["cluster"] == local]
    assert row["local"] is True


def test_a_gateway_back_up_still_shows_why_it_was_down(table: Table) -> None:
    table.put_cluster(Cluster("useast2", "east", ("192.0.2.7",)))
    back = GatewayHealth(up=True, since=1700000100.0, error="timed out 3 times")
    table.put_gateway_health("useast2", "192.0.2.7", back)
    line = next(line for line in gateways_text(table).splitlines() if "192.0.2.7" in line)
    assert line.split()[3] == "up" and "last down: timed out 3 times" in line


def test_cluster_lines_say_state_data_age_and_a_new_connections_error() -> None:
    clusters = Registry()
    clusters.set("east", "kubernetes", State.STALE, "services: HTTP 403", data_age=lambda: 42.25)
    clusters.set("west", "kubernetes", State.SYNCED, data_age=lambda: 0.5)
    clusters.set_next("west", State.SYNCING, "services: HTTP 401 Unauthorized")
    lines = clusters_text(clusters.as_json()).splitlines()
    assert lines[0].split() == ["CLUSTER", "STATE", "SINCE", "DATA", "AGE", "WHY"]
    assert lines[1].split()[:2] == ["east", "stale"]
    assert lines[1].split()[3:] == ["42.2s", "services:", "HTTP", "403"]
    assert lines[2].split(maxsplit=4)[3:] == [
        "0.5s",
        "new connection syncing: services: HTTP 401 Unauthorized",
    ]
