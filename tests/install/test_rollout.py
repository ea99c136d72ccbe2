"""What `install` names as the reason no globaldns pod is ready, from pod and ReplicaSet status
as a cluster (untrusted) reports it."""

from __future__ import annotations

from typing import Any

from globaldns.install.rollout import MAX_REASON, Blocked, blocker


def pod(waiting: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    state = {"waiting": waiting} if waiting else {"running": {}}
    return {
        "metadata": {"name": "globaldns-1"},
        "status": {"containerStatuses": [{"name": "globaldns", "state": state}], **status},
    }


def failed_replica_set(message: str) -> dict[str, Any]:
    condition = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate"}
    return {
        "metadata": {"name": "globaldns-abc"},
        "status": {"conditions": [{**condition, "message": message}]},
    }


def test_an_image_pull_back_off_is_an_image_pull_blocker() -> None:
    kind, detail = blocker([pod({"reason": "ErrImagePull", "message": "not found"})], [])
    assert kind is Blocked.IMAGE_PULL
    assert detail == "pod globaldns-1: ErrImagePull: not found"


def test_a_container_that_keeps_crashing_is_named() -> None:
    assert blocker([pod({"reason": "CrashLoopBackOff"})], [])[0] is Blocked.CONTAINER


def test_a_container_still_creating_is_not_a_blocker() -> None:
    assert blocker([pod({"reason": "ContainerCreating"})], [])[0] is Blocked.NOT_READY


def test_a_quota_refusal_comes_from_the_replica_set() -> None:
    kind, detail = blocker([], [failed_replica_set('pods "x" is forbidden: exceeded quota: q')])
    assert kind is Blocked.QUOTA
    assert detail.startswith("ReplicaSet globaldns-abc: FailedCreate: ")


def test_other_create_refusals_are_admission() -> None:
    assert blocker([], [failed_replica_set("denied by policy")])[0] is Blocked.ADMISSION


def test_an_unschedulable_pod_is_named() -> None:
    conditions = [{"type": "PodScheduled", "status": "False", "message": "0/3 nodes"}]
    assert blocker([pod(conditions=conditions)], [])[0] is Blocked.UNSCHEDULABLE


def test_no_pod_and_no_refusal_says_no_pod() -> None:
    assert blocker([], [])[0] is Blocked.NO_POD


def test_hostile_cluster_text_is_one_short_printable_line() -> None:
    message = "\x1b[2J\nfake line\r" + "A" * 10_000
    _, detail = blocker([pod({"reason": "ErrImagePull", "message": message})], [])
    assert detail.isprintable()
    assert len(detail) <= len("pod globaldns-1: ErrImagePull: ") + MAX_REASON


def test_malformed_status_is_no_blocker_rather_than_a_crash() -> None:
    garbage: dict[str, Any] = {
        "metadata": {"name": 7},
        "status": {"containerStatuses": "x", "conditions": [1]},
    }
    assert blocker([garbage], [{"status": {"conditions": None}}])[0] is Blocked.NOT_READY
