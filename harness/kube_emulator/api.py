"""The Kubernetes REST protocol of one cluster: routing, authentication, verbs, list paging and
watch streaming, over a `ClusterStore`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from . import discovery
from .patches import PatchError, json_patch, merge_patch
from .resources import ResourceType
from .selectors import SelectorError, field_selector, label_selector
from .status import ApiError
from .store import Obj, Predicate, Watcher, render

if TYPE_CHECKING:
    from .cluster import Cluster

MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
TRUE_VALUES = ("1", "true", "True")
NAMESPACES = ("", "namespaces")
FORBIDDEN_USER = "system:serviceaccount:globaldns:globaldns"


@dataclass(frozen=True)
class Target:
    """What a resource path names: a collection (name is None) or one object."""

    rtype: ResourceType
    namespace: str | None
    name: str | None
    status: bool = False  # the object's status subresource (`.../NAME/status`)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )


def _not_found() -> ApiError:
    return ApiError(404, "the server could not find the requested resource")


def _match_all(_obj: Any) -> bool:
    return True


def _predicate(query: Any) -> Predicate:
    try:
        checks = []
        if query.get("labelSelector"):
            checks.append(label_selector(query["labelSelector"]))
        if query.get("fieldSelector"):
            checks.append(field_selector(query["fieldSelector"]))
    except SelectorError as exc:
        raise ApiError(400, str(exc)) from exc
    if not checks:
        return _match_all
    return lambda obj: all(check(obj) for check in checks)


def _encode_continue(rv: int, namespace: str, name: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": [namespace, name]})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), (data["start"][0], data["start"][1])
    except (binascii.Error, ValueError, KeyError, IndexError, TypeError) as exc:
        raise ApiError(
            400, "continue key is not valid: incorrect encoded start resourceVersion"
        ) from exc


class ApiHandler:
    """Answers every request of one cluster's HTTPS listener."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    async def handle(self, request: web.Request) -> web.StreamResponse:
        status = 500
        faults = self.cluster.faults
        try:
            await faults.answering.wait()
            if faults.delay:
                await asyncio.sleep(faults.delay)
            failure = faults.failure()
            if failure is not None:
                status = failure.code
                headers = (
                    {} if faults.retry_after is None else {"Retry-After": str(faults.retry_after)}
                )
                refusal = _json(failure.body, failure.code)
                refusal.headers.update(headers)
                return refusal
            self._authenticate(request)
            response = await self._dispatch(request)
            status = response.status
            return response
        except ApiError as exc:
            status = exc.code
            return _json(exc.body, exc.code)
        finally:
            self.cluster.log_request(request, status)

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not self.cluster.tokens.authenticates(token):
            raise ApiError(401, "Unauthorized")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        catalog = self.cluster.catalog
        if parts == ["version"]:
            return _json(discovery.VERSION_INFO)
        if parts == ["api"]:
            return _json(discovery.core_versions(f"127.0.0.1:{self.cluster.port}"))
        if parts == ["apis"]:
            return _json(discovery.group_list(catalog))
        if len(parts) == 2 and parts[0] == "apis":
            found = discovery.group(catalog, parts[1])
            if found is None:
                raise _not_found()
            return _json(found)
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _not_found()
        if not rest:
            resources = discovery.resource_list(catalog, group, version)
            if resources is None:
                raise _not_found()
            return _json(resources)
        target = self._target(group, version, rest)
        return await self._serve(request, target)

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace: str | None = None
        status = rest[-1:] == ["status"] and (
            len(rest) == 5 or (len(rest) == 3 and rest[0] != "namespaces")
        )
        if status:
            rest = rest[:-1]
        if len(rest) in (3, 4) and rest[0] == "namespaces":
            namespace, resource, name = rest[1], rest[2], rest[3] if len(rest) == 4 else None
        elif len(rest) in (1, 2):
            resource, name = rest[0], rest[1] if len(rest) == 2 else None
        else:
            raise _not_found()
        rtype = self.cluster.catalog.by_path(group, version, resource)
        if rtype is None or (namespace is not None and not rtype.namespaced):
            raise _not_found()
        if rtype.namespaced and name is not None and namespace is None:
            raise _not_found()
        if status and not rtype.status_subresource:
            raise _not_found()
        return Target(rtype, namespace, name, status)

    async def _serve(self, request: web.Request, target: Target) -> web.StreamResponse:
        method = request.method
        if target.name is None:
            verbs = {"GET": "list", "POST": "create"}
        else:
            verbs = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        if target.status:
            verbs.pop("DELETE")
        verb = verbs.get(method)
        if target.rtype.namespaced and target.namespace is None and verb != "list":
            verb = None
        if verb is None:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        if verb == "list" and request.query.get("watch") in TRUE_VALUES:
            verb = "watch"
        self._authorize(target, verb)
        if verb == "watch":
            return await self._watch(request, target)
        if verb == "list":
            return _json(self._list(request, target))
        store = self.cluster.store
        if verb == "get":
            obj = store.get(target.rtype, target.namespace or "", target.name or "")
            return _json(render(obj, target.rtype))
        dry_run = request.query.get("dryRun") == "All"
        if verb == "create":
            created = self._create(await self._body(request), target, dry_run)
            return _json(render(self._written(created, target, dry_run), target.rtype), 201)
        self.cluster.faults.consume_conflict(target, store)
        if verb == "update":
            updated = self._update(await self._body(request), target, dry_run)
            return _json(render(self._written(updated, target, dry_run), target.rtype))
        if verb == "patch":
            return await self._patch(request, target, dry_run)
        if request.content_length:
            self._check_preconditions(await self._body(request), target)
        deleted = store.delete(target.rtype, target.namespace or "", target.name or "", dry_run)
        return _json(render(deleted, target.rtype))

    def _written(self, obj: Obj, target: Target, dry_run: bool) -> Obj:
        if not dry_run:
            self.cluster.after_write(target.rtype, obj)
        return obj

    def _check_preconditions(self, options: Obj, target: Target) -> None:
        """DeleteOptions `preconditions` (uid, resourceVersion): 409 when the object differs."""
        wanted = options.get("preconditions") or {}
        obj = self.cluster.store.get(target.rtype, target.namespace or "", target.name or "")
        for field in ("uid", "resourceVersion"):
            if wanted.get(field) and wanted[field] != obj["metadata"].get(field):
                raise ApiError(
                    409,
                    f"Precondition failed: {field} in precondition: {wanted[field]}, "
                    f"{field} in object meta: {obj['metadata'].get(field)}",
                    "Conflict",
                    name=target.name,
                    group=target.rtype.group,
                    kind=target.rtype.resource,
                )

    def _authorize(self, target: Target, verb: str) -> None:
        if not self.cluster.faults.forbids(target.rtype.resource, verb):
            return
        scope = (
            f'in the namespace "{target.namespace}"' if target.namespace else "at the cluster scope"
        )
        raise ApiError(
            403,
            f'{target.rtype.resource} is forbidden: User "{FORBIDDEN_USER}" '
            f'cannot {verb} resource "{target.rtype.resource}" in API group '
            f'"{target.rtype.group}" {scope}',
            name=target.name or "",
            group=target.rtype.group,
            kind=target.rtype.resource,
        )

    async def _body(self, request: web.Request) -> Obj:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return body

    def _place(self, body: Obj, target: Target) -> Obj:
        """Check and fill the body's namespace and name against the path, as the server does."""
        meta = body.setdefault("metadata", {})
        if target.rtype.namespaced:
            if meta.get("namespace") and meta["namespace"] != target.namespace:
                raise ApiError(
                    400,
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request",
                )
            meta["namespace"] = target.namespace
            if not self.cluster.store.has(NAMESPACES, ("", target.namespace or "")):
                raise ApiError(
                    404,
                    f'namespaces "{target.namespace}" not found',
                    name=target.namespace,
                    kind="namespaces",
                )
        else:
            meta.pop("namespace", None)
        if target.name is not None and meta.get("name") != target.name:
            raise ApiError(400, "the name of the object does not match the name on the URL")
        return body

    def _create(self, body: Obj, target: Target, dry_run: bool) -> Obj:
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(
                secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5)
            )
            meta["name"] = meta["generateName"] + suffix
        if not meta.get("name"):
            raise ApiError(
                422,
                f"{target.rtype.kind} is invalid: metadata.name: Required value: name or "
                "generateName is required",
            )
        self._place(body, target)
        if target.rtype.status_subresource:
            body.pop("status", None)  # set only through `/status`, as for any such CRD
        conflict_target = Target(target.rtype, target.namespace, meta["name"])
        self.cluster.faults.consume_conflict(conflict_target, self.cluster.store)
        return self.cluster.store.create(target.rtype, body, dry_run)

    def _update(self, body: Obj, target: Target, dry_run: bool) -> Obj:
        self._place(body, target)
        return self.cluster.store.update(target.rtype, self._scoped(body, target), dry_run=dry_run)

    def _scoped(self, body: Obj, target: Target) -> Obj:
        """With a status subresource, a write to the object keeps its stored `status` and a
        write to `/status` changes only that (the rest stays as stored)."""
        if not target.rtype.status_subresource:
            return body
        current = self.cluster.store.get(target.rtype, target.namespace or "", target.name or "")
        if target.status:
            meta = dict(current["metadata"])
            sent = body.get("metadata", {}).get("resourceVersion")
            if sent:
                meta["resourceVersion"] = sent  # checked against the stored one
            scoped = {k: v for k, v in current.items() if k != "status"}
            if "status" in body:
                scoped["status"] = body["status"]
            return {**scoped, "metadata": meta}
        scoped = {k: v for k, v in body.items() if k != "status"}
        if "status" in current:
            scoped["status"] = current["status"]
        return scoped

    async def _patch(self, request: web.Request, target: Target, dry_run: bool) -> web.Response:
        content_type = request.content_type
        store = self.cluster.store
        raw = await request.read()
        if content_type == APPLY_PATCH:
            if not request.query.get("fieldManager"):
                raise ApiError(
                    400, "PATCH, fieldManager is required for apply requests", "BadRequest"
                )
            try:
                patch = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise ApiError(400, f"error decoding YAML: {exc}") from exc
            if not isinstance(patch, dict):
                raise ApiError(400, "an apply patch must be an object")
            key = (target.namespace or "", target.name or "")
            if not store.has(target.rtype.storage, key):
                patch.setdefault("metadata", {}).setdefault("name", target.name)
                created = self._written(self._create(patch, target, dry_run), target, dry_run)
                return _json(render(created, target.rtype), 201)
            patched = merge_patch(store.get(target.rtype, *key), patch)
        elif content_type in (*MERGE_PATCH_TYPES, JSON_PATCH):
            try:
                patch = json.loads(raw)
            except ValueError as exc:
                raise ApiError(400, f"the patch is not valid JSON: {exc}") from exc
            current = store.get(target.rtype, target.namespace or "", target.name or "")
            try:
                if content_type == JSON_PATCH:
                    patched = json_patch(current, patch)
                else:
                    patched = merge_patch(current, patch)
            except PatchError as exc:
                raise ApiError(422, str(exc)) from exc
        else:
            raise ApiError(415, f"the media type {content_type!r} is not supported for PATCH")
        if not isinstance(patched, dict):
            raise ApiError(422, "the patched object is not an object")
        self._place(patched, target)
        updated = store.update(target.rtype, self._scoped(patched, target), dry_run=dry_run)
        return _json(render(self._written(updated, target, dry_run), target.rtype))

    def _list(self, request: web.Request, target: Target) -> Obj:
        store = self.cluster.store
        query = request.query
        list_rv, start = store.rv, None
        if query.get("continue"):
            list_rv, start = _decode_continue(query["continue"])
            store.check_not_expired(list_rv)
        limit = max(0, int(query.get("limit") or 0))
        # One more than the page: whether another follows, without matching the whole bucket
        # per page (so no remainingItemCount, which the API server may omit too).
        page = limit + 1 if limit else 0
        items = store.list(target.rtype, target.namespace, _predicate(query), start, page)
        metadata: Obj = {"resourceVersion": str(list_rv)}
        if limit and len(items) > limit:
            items = items[:limit]
            metadata["continue"] = _encode_continue(list_rv, *_key(items[-1]))
        if not target.rtype.crd:
            items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items]
        else:
            items = [render(o, target.rtype) for o in items]
        return {
            "kind": f"{target.rtype.kind}List",
            "apiVersion": target.rtype.api_version,
            "metadata": metadata,
            "items": items,
        }

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        query = request.query
        watcher = Watcher(target.rtype, target.namespace, _predicate(query))
        response = web.StreamResponse(
            headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
        )
        response.enable_chunked_encoding()
        try:
            backlog = self.cluster.store.watch(watcher, query.get("resourceVersion"))
        except ApiError as exc:
            await response.prepare(request)
            line = json.dumps({"type": "ERROR", "object": exc.body}).encode() + b"\n"
            await response.write(line)
            await response.write_eof()
            return response
        try:
            await response.prepare(request)
            transport = request.transport
            if transport is not None:
                watcher.abort = transport.abort
            await self._stream(request, response, watcher, target, backlog)
        except (ConnectionError, RuntimeError):
            pass  # the client went away or the connection was cut on purpose: nothing to send
        finally:
            self.cluster.store.unwatch(watcher)
        return response

    async def _stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        watcher: Watcher,
        target: Target,
        backlog: list[bytes],
    ) -> None:
        loop = asyncio.get_running_loop()
        timeout = float(request.query.get("timeoutSeconds") or 0)
        deadline = loop.time() + timeout if timeout > 0 else None
        bookmarks = request.query.get("allowWatchBookmarks") in TRUE_VALUES
        interval = self.cluster.bookmark_interval if bookmarks else None
        if backlog:
            await response.write(b"".join(backlog))
        while True:
            waits = [w for w in (interval, deadline and deadline - loop.time()) if w is not None]
            try:
                line = await asyncio.wait_for(watcher.queue.get(), min(waits) if waits else None)
            except TimeoutError:
                if watcher.stalled:
                    await self._silence(watcher)
                    return
                if deadline is not None and loop.time() >= deadline:
                    await response.write_eof()
                    return
                if watcher.queue.empty():
                    await response.write(self._bookmark(target.rtype))
                continue
            if line is None:  # the watch was cut: end without a final chunk
                return
            if watcher.stalled:
                await self._silence(watcher)
                return
            lines = [line]
            while not watcher.queue.empty():
                queued = watcher.queue.get_nowait()
                if queued is None:  # the watch was cut: end without a final chunk
                    return
                lines.append(queued)
            await response.write(b"".join(lines))

    async def _silence(self, watcher: Watcher) -> None:
        """A stalled watch: send nothing more, keep the connection open until it is cut."""
        while await watcher.queue.get() is not None:
            pass

    def _bookmark(self, rtype: ResourceType) -> bytes:
        obj = {
            "kind": rtype.kind,
            "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": str(self.cluster.store.rv)},
        }
        return json.dumps({"type": "BOOKMARK", "object": obj}).encode() + b"\n"


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])
