"""A stand-in for the Deployment and ReplicaSet controllers and the kubelet: what becomes of a
Deployment's pods, as a test chooses it per cluster.

The emulator runs no containers, so a written Deployment gets, at once, a ReplicaSet for its
pod template and the pods (or the refusal) a real cluster would show for the chosen outcome:
ready pods, a pod stuck on its image pull, or no pod at all because a ResourceQuota or an
admission plugin refused it (the ReplicaSet's `ReplicaFailure` condition says which).
"""

from __future__ import annotations

import enum
import hashlib
import json
from typing import Any

from .resources import ResourceType
from .store import ClusterStore, Obj


class PodOutcome(enum.StrEnum):
    """What the cluster does with a Deployment's pods."""

    READY = "ready"
    IMAGE_PULL = "image-pull"
    QUOTA = "quota"
    ADMISSION = "admission"


# The messages real clusters give (GKE's critical-pods quota, OpenShift's restricted SCC).
QUOTA_MESSAGE = (
    'pods "{pod}" is forbidden: insufficient quota to match these scopes: '
    "[{{PriorityClass In [system-node-critical system-cluster-critical]}}]"
)
ADMISSION_MESSAGE = (
    'pods "{pod}" is forbidden: unable to validate against any security context constraint: '
    '[provider "restricted-v2": .spec.securityContext.runAsUser: Invalid value: 10001: must '
    "be in the ranges: [1000680000, 1000689999]]"
)


def reconcile(
    store: ClusterStore,
    types: dict[str, ResourceType],
    deployment: Obj,
    outcome: PodOutcome,
) -> None:
    """Bring the Deployment's ReplicaSet and pods to what `outcome` makes of its template.

    A ready rollout replaces the older ReplicaSets' pods; a failing one leaves them serving,
    as `maxUnavailable: 0` does.
    """
    meta = deployment["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    template = (deployment.get("spec") or {}).get("template") or {}
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
    labels = {**((template.get("metadata") or {}).get("labels") or {}), "pod-template-hash": digest}
    replica_set = f"{name}-{digest}"
    pod = f"{replica_set}-{digest[:5]}"
    owned = _owned_by(store, types, namespace, name)
    if outcome is PodOutcome.READY:
        for kind, old in owned:
            if old != replica_set and not old.startswith(f"{replica_set}-"):
                store.delete(types[kind], namespace, old)
    conditions: list[dict[str, Any]] = []
    if outcome in (PodOutcome.QUOTA, PodOutcome.ADMISSION):
        text = QUOTA_MESSAGE if outcome is PodOutcome.QUOTA else ADMISSION_MESSAGE
        conditions.append(
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": text.format(pod=pod),
            }
        )
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": meta["uid"]}
    ready = 1 if outcome is PodOutcome.READY else 0
    store.put(
        types["ReplicaSet"],
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": replica_set,
                "namespace": namespace,
                "labels": labels,
                "ownerReferences": [owner],
            },
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
            "status": {"replicas": ready, "readyReplicas": ready, "conditions": conditions},
        },
    )
    if outcome in (PodOutcome.READY, PodOutcome.IMAGE_PULL):
        store.put(types["Pod"], _pod(pod, namespace, labels, replica_set, template, outcome))


def _owned_by(
    store: ClusterStore, types: dict[str, ResourceType], namespace: str, deployment: str
) -> list[tuple[str, str]]:
    """(kind, name) of the ReplicaSets and pods a Deployment's rollouts made."""
    prefix = f"{deployment}-"
    return [
        (kind, obj["metadata"]["name"])
        for kind in ("Pod", "ReplicaSet")
        for obj in store.list(types[kind], namespace, lambda _: True)
        if obj["metadata"]["name"].startswith(prefix)
    ]


def _pod(
    name: str,
    namespace: str,
    labels: dict[str, str],
    replica_set: str,
    template: Obj,
    outcome: PodOutcome,
) -> Obj:
    containers = (template.get("spec") or {}).get("containers") or [{"name": "main"}]
    image = containers[0].get("image", "")
    if outcome is PodOutcome.READY:
        phase, ready, state = "Running", "True", {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    else:
        phase, ready = "Pending", "False"
        state = {
            "waiting": {
                "reason": "ImagePullBackOff",
                "message": f'Back-off pulling image "{image}"',
            }
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set}
            ],
        },
        "spec": template.get("spec") or {},
        "status": {
            "phase": phase,
            "podIP": "10.244.0.53",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": ready},
            ],
            "containerStatuses": [
                {
                    "name": containers[0].get("name", "main"),
                    "image": image,
                    "ready": ready == "True",
                    "state": state,
                }
            ],
        },
    }
