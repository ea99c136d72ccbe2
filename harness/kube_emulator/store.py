"""One cluster's objects, resourceVersion counter, event history and open watches: the etcd plus
watch cache of an API server, kept in memory."""

from __future__ import annotations

import asyncio
import bisect
import builtins
import copy
import functools
import ipaddress
import itertools
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType
from .status import ApiError

Obj = dict[str, Any]
Storage = tuple[str, str]
Key = tuple[str, str]
Predicate = Callable[[Mapping[str, Any]], bool]


@functools.lru_cache(maxsize=1)
def _timestamp(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> str:
    """RFC 3339 at second precision, formatted once per second (seeding writes many objects)."""
    return _timestamp(int(time.time()))


def render(obj: Obj, rtype: ResourceType) -> Obj:
    """The object as served through `rtype` (one stored object, several API versions)."""
    if obj.get("apiVersion") == rtype.api_version:
        return obj
    return {**obj, "apiVersion": rtype.api_version}


def object_key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


class Event:
    """One committed write; `old` lets watches with selectors see objects enter and leave."""

    __slots__ = ("encoded", "new", "old", "rv", "storage", "type")

    def __init__(self, rv: int, type_: str, storage: Storage, old: Obj | None, new: Obj) -> None:
        self.rv = rv
        self.type = type_
        self.storage = storage
        self.old = old
        self.new = new
        self.encoded: dict[tuple[str, str], bytes] = {}

    def line(self, type_: str, rtype: ResourceType) -> bytes:
        """The newline-delimited JSON watch line, encoded once per type and API version."""
        cache_key = (type_, rtype.api_version)
        line = self.encoded.get(cache_key)
        if line is None:
            body = {"type": type_, "object": render(self.new, rtype)}
            line = json.dumps(body, separators=(",", ":")).encode() + b"\n"
            self.encoded[cache_key] = line
        return line


class Watcher:
    """An open watch: its filter, and a queue of lines to send (None means: close now)."""

    def __init__(self, rtype: ResourceType, namespace: str | None, predicate: Predicate) -> None:
        self.rtype = rtype
        self.namespace = namespace
        self.predicate = predicate
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.abort: Callable[[], None] = lambda: None
        self.stalled = False  # sends nothing more, stays open (Cluster.stall_watches)

    def _visible(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and object_key(obj)[0] != self.namespace:
            return False
        return self.predicate(obj)

    def translate(self, event: Event) -> str | None:
        """The event type this watcher sees, given its selectors (None: not at all)."""
        now, before = self._visible(event.new), self._visible(event.old)
        if event.type == "MODIFIED":
            if now and before:
                return "MODIFIED"
            if now:
                return "ADDED"
            return "DELETED" if before else None
        return event.type if now else None

    def offer(self, event: Event) -> None:
        seen_as = self.translate(event)
        if seen_as is not None:
            self.queue.put_nowait(event.line(seen_as, self.rtype))


class ClusterIPAllocator:
    """Hands out Service ClusterIPs from the cluster's service range."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr)
        self.used: set[str] = set()
        self.cursor = 2

    def allocate(self) -> str:
        size = self.network.num_addresses
        for _ in range(size):
            offset = self.cursor
            self.cursor = self.cursor + 1 if self.cursor + 1 < size - 1 else 2
            address = str(self.network.network_address + offset)
            if address not in self.used:
                self.used.add(address)
                return address
        raise ApiError(500, f"range {self.network} is full", "InternalError")


class ClusterStore:
    """Objects keyed by (group, resource) then (namespace, name); every write bumps one counter."""

    def __init__(self, service_cidr: str, max_history: int = 200_000) -> None:
        self.rv = 1
        self.oldest_rv = 0
        self.max_history = max_history
        self.objects: dict[Storage, dict[Key, Obj]] = {}
        self._sorted: dict[
            Storage, list[Key]
        ] = {}  # each bucket's keys, sorted, until one comes or goes
        self.history: list[Event] = []
        self.history_rvs: list[int] = []
        self.watchers: dict[Storage, set[Watcher]] = {}
        self.cluster_ips = ClusterIPAllocator(service_cidr)
        self.observer: Callable[[Event], None] = lambda _event: None  # controllers

    # reads

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.objects.get(rtype.storage, {}).get((namespace, name))
        if obj is None:
            raise ApiError(
                404,
                f'{rtype.resource}{"." + rtype.group if rtype.group else ""} "{name}" not found',
                name=name,
                group=rtype.group,
                kind=rtype.resource,
            )
        return obj

    def has(self, storage: Storage, key: Key) -> bool:
        return key in self.objects.get(storage, {})

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None,
        predicate: Predicate,
        after: Key | None = None,
        limit: int = 0,
    ) -> list[Obj]:
        """The matching objects in key order, those past `after` only, `limit` at most (0:
        all). Keys stay sorted between writes, so a paged list of 200,000 objects costs each
        page its own objects, not a sort of the whole bucket."""
        bucket = self.objects.get(rtype.storage, {})
        keys = self._sorted.get(rtype.storage)
        if keys is None:
            keys = self._sorted[rtype.storage] = sorted(bucket)
        start = bisect.bisect_right(keys, after) if after is not None else 0
        found = []
        for key in itertools.islice(keys, start, None):
            if (namespace is None or key[0] == namespace) and predicate(bucket[key]):
                found.append(bucket[key])
                if len(found) == limit:
                    break
        return found

    def check_not_expired(self, rv: int) -> None:
        if rv < self.oldest_rv:
            raise ApiError(
                410,
                f"too old resource version: {rv} ({self.oldest_rv})",
                "Expired",
            )

    # writes

    def create(self, rtype: ResourceType, obj: Obj, dry_run: bool = False) -> Obj:
        key = object_key(obj)
        if self.has(rtype.storage, key):
            raise ApiError(
                409,
                f'{rtype.resource} "{key[1]}" already exists',
                "AlreadyExists",
                name=key[1],
                group=rtype.group,
                kind=rtype.resource,
            )
        meta = obj.setdefault("metadata", {})
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["generation"] = 1
        meta.pop("resourceVersion", None)
        if rtype.kind == "Service" and not rtype.group:
            self._assign_cluster_ip(obj, None, dry_run)
        if rtype.kind == "Namespace" and not rtype.group:
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
        return self._commit(rtype, None, obj, dry_run)

    def update(
        self, rtype: ResourceType, obj: Obj, check_version: bool = True, dry_run: bool = False
    ) -> Obj:
        namespace, name = object_key(obj)
        old = self.get(rtype, namespace, name)
        meta = obj.setdefault("metadata", {})
        sent_rv = meta.get("resourceVersion")
        if check_version and sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise self.conflict(rtype, name)
        old_meta = old["metadata"]
        meta["uid"] = old_meta["uid"]
        meta["creationTimestamp"] = old_meta["creationTimestamp"]
        generation = old_meta.get("generation", 1)
        meta["generation"] = generation + (obj.get("spec") != old.get("spec"))
        if rtype.kind == "Service" and not rtype.group:
            self._assign_cluster_ip(obj, old, dry_run)
        return self._commit(rtype, old, obj, dry_run)

    def put(self, rtype: ResourceType, obj: Obj) -> Obj:
        """Create or replace, no version check: the control API's write."""
        if self.has(rtype.storage, object_key(obj)):
            return self.update(rtype, obj, check_version=False)
        return self.create(rtype, obj)

    def delete(self, rtype: ResourceType, namespace: str, name: str, dry_run: bool = False) -> Obj:
        old = self.get(rtype, namespace, name)
        if dry_run:
            return old
        if rtype.kind == "Namespace" and not rtype.group:
            for storage, bucket in list(self.objects.items()):
                for key in [k for k in bucket if k[0] == name]:
                    self._remove(storage, key)
        return self._remove(rtype.storage, (namespace, name))

    def conflict(self, rtype: ResourceType, name: str) -> ApiError:
        return ApiError(
            409,
            f'Operation cannot be fulfilled on {rtype.resource} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again",
            "Conflict",
            name=name,
            group=rtype.group,
            kind=rtype.resource,
        )

    def compact(self) -> None:
        """Forget all history: watches and continue tokens from older RVs now get 410."""
        self.oldest_rv = self.rv
        self.history.clear()
        self.history_rvs.clear()

    # watches

    def watch(self, watcher: Watcher, since: str | None) -> builtins.list[bytes]:
        """Register `watcher`; returns the lines it must send first (replay or initial state)."""
        rtype = watcher.rtype
        if since in (None, "", "0"):
            backlog = [
                Event(int(obj["metadata"]["resourceVersion"]), "ADDED", rtype.storage, None, obj)
                for obj in self.list(rtype, watcher.namespace, watcher.predicate)
            ]
        else:
            try:
                rv = int(since)
            except ValueError as exc:
                raise ApiError(400, f"invalid resource version {since!r}") from exc
            self.check_not_expired(rv)
            start = bisect.bisect_right(self.history_rvs, rv)
            backlog = [e for e in self.history[start:] if e.storage == rtype.storage]
        lines = []
        for event in backlog:
            seen_as = watcher.translate(event)
            if seen_as is not None:
                lines.append(event.line(seen_as, rtype))
        self.watchers.setdefault(rtype.storage, set()).add(watcher)
        return lines

    def unwatch(self, watcher: Watcher) -> None:
        self.watchers.get(watcher.rtype.storage, set()).discard(watcher)

    def all_watchers(self) -> builtins.list[Watcher]:
        return [w for group in self.watchers.values() for w in group]

    # internals

    def _assign_cluster_ip(self, obj: Obj, old: Obj | None, dry_run: bool) -> None:
        spec = obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        if not spec.get("clusterIP") and old is not None:
            old_spec = old.get("spec", {})
            spec["clusterIP"] = old_spec.get("clusterIP")
            spec["clusterIPs"] = old_spec.get("clusterIPs", [spec["clusterIP"]])
        elif not spec.get("clusterIP"):
            ip = self.cluster_ips.allocate() if not dry_run else "0.0.0.0"
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
        else:
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            if not dry_run:
                self.cluster_ips.used.add(spec["clusterIP"])
        spec.setdefault("type", "ClusterIP")

    def _commit(self, rtype: ResourceType, old: Obj | None, obj: Obj, dry_run: bool) -> Obj:
        obj["kind"] = rtype.kind
        obj["apiVersion"] = rtype.api_version
        if dry_run:
            return obj
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        if old is None:
            self._sorted.pop(rtype.storage, None)
        self.objects.setdefault(rtype.storage, {})[object_key(obj)] = obj
        self._record(
            Event(self.rv, "ADDED" if old is None else "MODIFIED", rtype.storage, old, obj)
        )
        return obj

    def _remove(self, storage: Storage, key: Key) -> Obj:
        old = self.objects[storage].pop(key)
        self._sorted.pop(storage, None)
        spec = old.get("spec") or {}
        if storage == ("", "services") and spec.get("clusterIP"):
            self.cluster_ips.used.discard(spec["clusterIP"])
        self.rv += 1
        gone = copy.copy(old)
        gone["metadata"] = {**old["metadata"], "resourceVersion": str(self.rv)}
        self._record(Event(self.rv, "DELETED", storage, None, gone))
        return gone

    def _record(self, event: Event) -> None:
        self.history.append(event)
        self.history_rvs.append(event.rv)
        self.observer(event)
        if len(self.history) > self.max_history:
            drop = len(self.history) // 2
            self.oldest_rv = self.history_rvs[drop - 1]
            del self.history[:drop]
            del self.history_rvs[:drop]
        for watcher in self.watchers.get(event.storage, ()):
            watcher.offer(event)
