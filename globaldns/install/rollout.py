"""Before CoreDNS is pointed at globaldns, globaldns must be there to answer: a pod Ready (its
readiness probe is `/ready`, true once the table can answer) and a DNS answer for the zone.

When that does not happen in time, the error names what blocked, read from the cluster: the
image cannot be pulled (a container waiting in `ErrImagePull`/`ImagePullBackOff`), a quota or an
admission plugin refuses the pods (the ReplicaSet's `ReplicaFailure` condition), or the pods
run but nothing answers. Text from the cluster is untrusted: it is cut short and kept printable.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from globaldns.errors import GlobalDnsError
from globaldns.install.ask import answers_zone, ask
from globaldns.install.kube import Kube, Obj

POLL = 0.5
ASK_TIMEOUT = 1.0
MAX_REASON = 300
IMAGE_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
# Waiting reasons that are just a container starting.
STARTING = frozenset({"ContainerCreating", "PodInitializing"})


class Blocked(enum.StrEnum):
    """What kept globaldns from answering, as the install error names it."""

    IMAGE_PULL = "the image cannot be pulled"
    QUOTA = "a ResourceQuota refuses the pods"
    ADMISSION = "admission refuses the pods (a security or policy check)"
    CONTAINER = "the container does not start"
    UNSCHEDULABLE = "the pods cannot be scheduled"
    NO_POD = "no pod was created"
    NOT_READY = "no pod turned Ready"
    NO_ANSWER = "the pods are Ready but no DNS answer came"


class NotAnswering(GlobalDnsError):
    """No globaldns pod answered in time; `blocked` says why, the message says what to do."""

    def __init__(self, message: str, blocked: Blocked) -> None:
        super().__init__(message)
        self.blocked = blocked


@dataclass(frozen=True)
class Where:
    """The globaldns Deployment's namespace and pod selector, the address to ask, and the
    zones it must answer there (each one install wires: `--zone` and `--zones`)."""

    namespace: str
    selector: dict[str, str]
    host: str
    port: int
    zones: tuple[str, ...]

    @property
    def label_selector(self) -> str:
        return ",".join(f"{key}={value}" for key, value in sorted(self.selector.items()))


async def wait_until_answering(
    kube: Kube, where: Where, timeout: float, say: Callable[[str], None]
) -> None:
    """Return once a pod is Ready and every zone's SOA is answered at `where`; else
    `NotAnswering` with the blocker seen last."""
    deadline = time.monotonic() + timeout
    said: set[Blocked] = set()
    while True:
        pods = await kube.list("v1", "Pod", where.namespace, where.label_selector)
        if any(_ready(pod) for pod in pods):
            silent = await _unanswered(where)
            if silent is None:
                return
            blocked, detail = (
                Blocked.NO_ANSWER,
                f"asked {where.host}:{where.port} for the SOA of {silent}.",
            )
        else:
            replica_sets = await kube.list(
                "apps/v1", "ReplicaSet", where.namespace, where.label_selector
            )
            blocked, detail = blocker(pods, replica_sets)
        if blocked not in said:
            say(f"waiting for globaldns: {blocked}: {detail}")
            said.add(blocked)
        if time.monotonic() >= deadline:
            raise NotAnswering(
                f"globaldns did not answer within {timeout:g}s: {blocked} "
                f"({detail}); {_fix(blocked, where)}",
                blocked,
            )
        await asyncio.sleep(POLL)


async def _unanswered(where: Where) -> str | None:
    """The first zone whose SOA `where` does not answer authoritatively; None when all are."""
    for zone in where.zones:
        if not answers_zone(await ask(where.host, where.port, zone, "SOA", ASK_TIMEOUT), zone):
            return zone
    return None


def blocker(pods: list[Obj], replica_sets: list[Obj]) -> tuple[Blocked, str]:
    """The most telling reason no pod is Ready, and the object and text that say so."""
    for replica_set in replica_sets:
        for condition in _list(_dict(replica_set.get("status")).get("conditions")):
            if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
                message = _text(condition.get("message"))
                kind = Blocked.QUOTA if "quota" in message.lower() else Blocked.ADMISSION
                return (
                    kind,
                    f"ReplicaSet {_name(replica_set)}: {_text(condition.get('reason'))}: {message}",
                )
    for pod in pods:
        status = _dict(pod.get("status"))
        for container in _list(status.get("containerStatuses")):
            waiting = _dict(_dict(container.get("state")).get("waiting"))
            reason = _text(waiting.get("reason"))
            if reason and reason not in STARTING:
                kind = Blocked.IMAGE_PULL if reason in IMAGE_REASONS else Blocked.CONTAINER
                return kind, f"pod {_name(pod)}: {reason}: {_text(waiting.get('message'))}"
        for condition in _list(status.get("conditions")):
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return Blocked.UNSCHEDULABLE, f"pod {_name(pod)}: {_text(condition.get('message'))}"
    if not pods:
        return Blocked.NO_POD, "no pod matches the Deployment's selector yet"
    return (
        Blocked.NOT_READY,
        f"pod {_name(pods[0])} is {_text(_dict(pods[0].get('status')).get('phase'))}",
    )


def _fix(blocked: Blocked, where: Where) -> str:
    untouched = "CoreDNS was not touched"
    if blocked is Blocked.NO_ANSWER:
        return (
            f"{untouched}; if install runs outside the cluster network, forward a port "
            f"(kubectl -n {where.namespace} port-forward service/globaldns 8053:53) and pass "
            "--check-address 127.0.0.1:8053, or give --timeout more time"
        )
    return f"{untouched}; fix that (the image: --image; the pod spec: an overlay) and install again"


def _ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in _list(_dict(pod.get("status")).get("conditions"))
    )


def _name(obj: Obj) -> str:
    return _text(_dict(obj.get("metadata")).get("name"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    """Cluster text as one short printable line."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value or ""))
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."
