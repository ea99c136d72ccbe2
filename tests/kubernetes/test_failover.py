"""Failover order as endpoints turn unready and ready again (SPEC §2), across real watches."""

from __future__ import annotations

from tests.kubernetes.conftest import Mesh, endpoints, service


def _three_clusters(mesh: Mesh) -> tuple[str, str, str, str]:
    """local and near in region west, far in east; `foo` in bar, ready everywhere."""
    local = mesh.cluster("local", "west", "192.0.2.1")
    near = mesh.cluster("near", "west", "192.0.2.2")
    far = mesh.cluster("far", "east", "192.0.2.3")
    ip = ""
    for cluster in (local, near, far):
        created = mesh.put(cluster, service("bar", "foo"), endpoints("bar", "foo", True))
        if cluster == local:
            ip = created[0]["spec"]["clusterIP"]
    mesh.serve([local, near, far], local)
    return local, near, far, ip


def test_answers_fail_over_local_then_same_region_then_other_regions_then_open(
    mesh: Mesh,
) -> None:
    local, near, far, local_ip = _three_clusters(mesh)
    mesh.wait_answer("foo.bar.global", [local_ip])

    mesh.put(local, endpoints("bar", "foo", False))
    mesh.wait_answer("foo.bar.global", ["192.0.2.2", "192.0.2.3"])
    assert mesh.answer_in_order("foo.bar.global")[0] == "192.0.2.2"

    mesh.put(near, endpoints("bar", "foo", False))
    mesh.wait_answer("foo.bar.global", ["192.0.2.3"])

    mesh.put(far, endpoints("bar", "foo", False, False))
    mesh.wait_answer("foo.bar.global", [local_ip])
    assert mesh.table_entry("foo.bar")["tier"] == "failopen"

    mesh.put(far, endpoints("bar", "foo", True, False))
    mesh.wait_answer("foo.bar.global", ["192.0.2.3"])

    mesh.put(local, endpoints("bar", "foo", True))
    mesh.wait_answer("foo.bar.global", [local_ip])


def test_pinned_names_stay_with_their_cluster_and_region_whatever_is_ready(mesh: Mesh) -> None:
    local, near, far, local_ip = _three_clusters(mesh)
    for cluster in (local, near, far):
        mesh.put(cluster, endpoints("bar", "foo", False))
    mesh.wait_answer("foo.bar.global", [local_ip])  # fail open
    mesh.wait_answer(f"foo-{near}.bar.global", ["192.0.2.2"])
    mesh.wait_answer(f"foo-{far}.bar.global", ["192.0.2.3"])
    mesh.wait_answer(f"foo-{local}.bar.global", [local_ip])
    mesh.wait_answer("foo-east.bar.global", ["192.0.2.3"])
    mesh.wait_answer("foo-west.bar.global", [local_ip])

    mesh.put(far, endpoints("bar", "foo", True))
    mesh.wait_answer("foo.bar.global", ["192.0.2.3"])
    assert mesh.answer(f"foo-{near}.bar.global") == ["192.0.2.2"]
    assert mesh.answer("foo-west.bar.global") == [local_ip]
