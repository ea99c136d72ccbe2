"""Plain-dict access to the Kubernetes API for the installer and the wiring watchdog.

Objects stay the JSON the server sends, so what is compared, annotated and written back is what
is stored: generated models would drop fields they do not know. Every failure becomes a
`KubeError` whose message says what was being done and what the operator can do about it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from globaldns.errors import GlobalDnsError

FIELD_MANAGER = "globaldns"
REQUEST_TIMEOUT = 15.0
# The installer lists only its own pods and ReplicaSets: a page is plenty.
LIST_LIMIT = 100
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"

Obj = dict[str, Any]


class KubeError(GlobalDnsError):
    """An API call failed; the message names the call, the cause and the fix."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Conflict(KubeError):
    """409: the object changed between our read and our write; read again and retry."""


class NotServed(KubeError):
    """The cluster has no such kind (a CRD not installed): no object of it can exist."""


@dataclass(frozen=True, slots=True)
class Ref:
    """Which object: enough to find its URL and to record it."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Obj) -> Ref:
        meta = obj["metadata"]
        return cls(obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"])

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class Kube:
    """One cluster's API through an `ApiClient`; resource paths come from API discovery."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self._resources: dict[tuple[str, str], tuple[str, bool]] = {}

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    async def get(self, ref: Ref) -> Obj | None:
        """The object, or None when it does not exist."""
        try:
            return await self._call("GET", await self._path(ref), f"read {ref}")
        except KubeError as err:
            if err.status == 404:
                return None
            raise

    async def list(self, api_version: str, kind: str, namespace: str, selector: str) -> list[Obj]:
        """The objects of a kind in `namespace` matching the label `selector` (one page)."""
        plural, _ = await self._resource(api_version, kind)
        path = f"{_group_path(api_version)}/namespaces/{namespace}/{plural}"
        query = [("labelSelector", selector), ("limit", str(LIST_LIMIT))]
        reply = await self._call("GET", path, f"list {kind} in {namespace}", None, query)
        items = reply.get("items")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    async def apply(self, obj: Obj) -> Obj:
        """Server-side apply as field manager `globaldns`, taking over fields others set."""
        ref = Ref.of(obj)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        return await self._call(
            "PATCH", await self._path(ref), f"apply {ref}", obj, query, APPLY_PATCH
        )

    async def create(self, obj: Obj) -> Obj:
        """POST a new object: `Conflict` (409) if one of that name exists already."""
        ref = Ref.of(obj)
        path = (await self._path(ref)).rsplit("/", 1)[0]
        return await self._call("POST", path, f"create {ref}", obj)

    async def replace(self, obj: Obj) -> Obj:
        """PUT carrying the object's resourceVersion: `Conflict` if it changed since it was read."""
        ref = Ref.of(obj)
        return await self._call("PUT", await self._path(ref), f"update {ref}", obj)

    async def merge_patch(self, ref: Ref, patch: Obj) -> Obj:
        path = await self._path(ref)
        return await self._call("PATCH", path, f"patch {ref}", patch, (), MERGE_PATCH)

    async def delete(self, ref: Ref, uid: str | None = None) -> bool:
        """Delete the object; False when it was already gone (or its kind is no longer served).

        With `uid`, only that very object (DeleteOptions preconditions): one deleted and made
        again under the same name since it was read is a `Conflict`, and stays.
        """
        options = (
            {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}
            if uid
            else None
        )
        try:
            await self._call("DELETE", await self._path(ref), f"delete {ref}", options)
        except NotServed:
            return False
        except KubeError as err:
            if err.status == 404:
                return False
            raise
        return True

    async def _path(self, ref: Ref) -> str:
        plural, namespaced = await self._resource(ref.api_version, ref.kind)
        scope = f"/namespaces/{ref.namespace}" if namespaced else ""
        return f"{_group_path(ref.api_version)}{scope}/{plural}/{ref.name}"

    async def _resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of a kind, from the server's discovery document for its group."""
        if (api_version, kind) not in self._resources:
            try:
                listing = await self._call(
                    "GET", _group_path(api_version), f"discover {api_version}"
                )
            except KubeError as err:
                if err.status != 404:
                    raise
                listing = {}  # the group is not served at all
            for resource in listing.get("resources", []):
                if "/" not in resource["name"]:
                    key = (api_version, resource["kind"])
                    self._resources[key] = (resource["name"], resource["namespaced"])
        try:
            return self._resources[(api_version, kind)]
        except KeyError:
            # Not a 404: `get` must not take a missing API for a missing object.
            raise NotServed(
                f"the API server at {self.server} does not serve {kind} in {api_version}; "
                "the cluster is too old or lacks that API (a CRD not installed)"
            ) from None

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        body: Obj | None = None,
        query: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
    ) -> Obj:
        try:
            reply: Obj = await self.api.call_api(
                path,
                method,
                query_params=list(query),
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                auth_settings=["BearerToken"],
                response_types_map={200: "object", 201: "object", 202: "object"},
                _return_http_data_only=True,
                _request_timeout=REQUEST_TIMEOUT,
            )
            return reply
        except ApiException as err:
            raise _api_error(what, err) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            cause = str(err) or type(err).__name__
            raise KubeError(
                f"{what}: cannot reach the API server at {self.server} ({cause}); check that "
                "the cluster is up and the kubeconfig points at it"
            ) from None


def _group_path(api_version: str) -> str:
    return f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"


def _api_error(what: str, err: ApiException) -> KubeError:
    try:
        message = json.loads(err.body or "{}").get("message") or err.reason
    except (ValueError, AttributeError):
        message = err.reason
    if err.status == 409:
        return Conflict(f"{what}: conflict: {message}", 409)
    if err.status == 403:
        return KubeError(
            f"{what}: forbidden: {message}; use a kubeconfig context allowed to do this "
            "(installing needs cluster-admin)",
            403,
        )
    if err.status == 401:
        return KubeError(f"{what}: unauthorized; the kubeconfig's credentials were refused", 401)
    return KubeError(f"{what}: HTTP {err.status}: {message}", err.status)
