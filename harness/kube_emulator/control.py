"""The control API: plain HTTP JSON on 127.0.0.1 for tests and benchmarks to read the truth,
write around auth, and break clusters on purpose; plus a small synchronous client for it."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from .status import ApiError
from .workloads import PodOutcome

if TYPE_CHECKING:
    from .emulator import Emulator

Handler = Callable[[web.Request], Awaitable[Any]]


def control_app(emulator: Emulator) -> web.Application:
    """Routes under /clusters; every body and answer is JSON; errors are Status objects."""
    routes = web.RouteTableDef()

    def cluster(request: web.Request) -> Any:
        return emulator.cluster(request.match_info["cluster"])

    def summary(name: str) -> dict[str, Any]:
        c = emulator.clusters[name]
        return {
            "name": name,
            "url": c.url,
            "port": c.port,
            "up": c.is_up,
            "rv": c.store.rv,
            "watches": len(c.store.all_watchers()),
        }

    @routes.get("/clusters")
    async def list_clusters(request: web.Request) -> Any:
        return [summary(name) for name in emulator.clusters]

    @routes.post("/clusters")
    async def add_cluster(request: web.Request) -> Any:
        body = await request.json()
        await emulator.add_cluster(body["name"], body.get("serviceEntries"))
        return summary(body["name"])

    @routes.delete("/clusters/{cluster}")
    async def remove_cluster(request: web.Request) -> Any:
        await emulator.remove_cluster(request.match_info["cluster"])
        return {}

    @routes.get("/kubeconfig")
    async def get_kubeconfig(request: web.Request) -> Any:
        names = request.query.get("clusters")
        return emulator.kubeconfig(names.split(",") if names else None)

    @routes.get("/clusters/{cluster}/remote-secret")
    async def get_remote_secret(request: web.Request) -> Any:
        namespace = request.query.get("namespace", "istio-system")
        return emulator.remote_secret(request.match_info["cluster"], namespace)

    @routes.post("/clusters/{cluster}/down")
    async def down(request: web.Request) -> Any:
        await cluster(request).down()
        return summary(request.match_info["cluster"])

    @routes.post("/clusters/{cluster}/up")
    async def up(request: web.Request) -> Any:
        await cluster(request).up()
        return summary(request.match_info["cluster"])

    @routes.get("/clusters/{cluster}/objects")
    async def get_objects(request: web.Request) -> Any:
        q = request.query
        return {"items": cluster(request).objects(q["apiVersion"], q["kind"], q.get("namespace"))}

    @routes.put("/clusters/{cluster}/objects")
    async def put_objects(request: web.Request) -> Any:
        body = await request.json()
        return {"items": [cluster(request).put(obj) for obj in body["items"]]}

    @routes.post("/clusters/{cluster}/objects/delete")
    async def delete_object(request: web.Request) -> Any:
        b = await request.json()
        return cluster(request).delete(
            b["apiVersion"], b["kind"], b.get("namespace", ""), b["name"]
        )

    @routes.post("/clusters/{cluster}/load-balancer")
    async def set_load_balancer(request: web.Request) -> Any:
        b = await request.json()
        return cluster(request).set_load_balancer(b["namespace"], b["name"], b["ingress"])

    @routes.post("/clusters/{cluster}/token")
    async def rotate_token(request: web.Request) -> Any:
        cluster(request).rotate_token()
        return {}

    @routes.post("/clusters/{cluster}/watches/stall")
    async def stall_watches(request: web.Request) -> Any:
        return {"stalled": cluster(request).stall_watches()}

    @routes.post("/clusters/{cluster}/watches/drop")
    async def drop_watches(request: web.Request) -> Any:
        return {"dropped": cluster(request).drop_watches()}

    @routes.post("/clusters/{cluster}/compact")
    async def compact(request: web.Request) -> Any:
        store = cluster(request).store
        store.compact()
        return {"compactedTo": store.oldest_rv}

    @routes.put("/clusters/{cluster}/crds/serviceentries")
    async def service_entries(request: web.Request) -> Any:
        cluster(request).set_service_entries(bool((await request.json())["installed"]))
        return {}

    @routes.put("/clusters/{cluster}/crds/{crd}")
    async def platform_crd(request: web.Request) -> Any:
        installed = bool((await request.json())["installed"])
        cluster(request).set_crd(request.match_info["crd"], installed)
        return {}

    @routes.put("/clusters/{cluster}/pods")
    async def pods(request: web.Request) -> Any:
        cluster(request).pod_outcome = PodOutcome((await request.json())["outcome"])
        return {}

    @routes.post("/clusters/{cluster}/faults/forbidden")
    async def forbid(request: web.Request) -> Any:
        b = await request.json()
        cluster(request).faults.forbidden.add((b["resource"], b.get("verb")))
        return {}

    @routes.post("/clusters/{cluster}/faults/conflict")
    async def conflict(request: web.Request) -> Any:
        b = await request.json()
        key = (b["resource"], b.get("namespace", ""), b["name"])
        cluster(request).faults.conflicts[key] = int(b.get("count", 1))
        return {}

    @routes.post("/clusters/{cluster}/faults/delay")
    async def delay(request: web.Request) -> Any:
        cluster(request).faults.delay = float((await request.json())["seconds"])
        return {}

    @routes.post("/clusters/{cluster}/faults/status")
    async def fail(request: web.Request) -> Any:
        b = await request.json()
        faults = cluster(request).faults
        faults.status, faults.retry_after = int(b["code"]), b.get("retryAfter")
        return {}

    @routes.post("/clusters/{cluster}/faults/hang")
    async def hang(request: web.Request) -> Any:
        cluster(request).faults.answering.clear()
        return {}

    @routes.delete("/clusters/{cluster}/faults")
    async def clear_faults(request: web.Request) -> Any:
        cluster(request).faults.clear()
        return {}

    @routes.post("/clusters/{cluster}/tokens/presented")
    async def token_presented(request: web.Request) -> Any:
        token = str((await request.json())["token"])
        return {"presented": cluster(request).tokens.was_presented(token)}

    @routes.get("/clusters/{cluster}/requests")
    async def get_requests(request: web.Request) -> Any:
        return {"items": list(cluster(request).requests)}

    @routes.delete("/clusters/{cluster}/requests")
    async def clear_requests(request: web.Request) -> Any:
        cluster(request).requests.clear()
        return {}

    @web.middleware
    async def as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return web.json_response(await handler(request))
        except ApiError as exc:
            return web.json_response(exc.body, status=exc.code)
        except (KeyError, ValueError) as exc:
            return web.json_response({"message": f"bad request: {exc!r}"}, status=400)

    app = web.Application(middlewares=[as_json])
    app.add_routes(routes)
    return app


class ControlError(Exception):
    """The control API refused a request; `status` is its HTTP status, `body` its JSON."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"control API answered {status}: {body}")
        self.status = status
        self.body = body


class ControlClient:
    """Synchronous client of the control API (use it from tests, not from the emulator's loop)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise ControlError(exc.code, json.load(exc)) from None

    def clusters(self) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", self._call("GET", "/clusters"))

    def add_cluster(self, name: str, service_entries: bool = True) -> dict[str, Any]:
        return cast(
            "dict[str, Any]",
            self._call("POST", "/clusters", {"name": name, "serviceEntries": service_entries}),
        )

    def remove_cluster(self, name: str) -> None:
        self._call("DELETE", f"/clusters/{name}")

    def kubeconfig(self, clusters: list[str] | None = None) -> dict[str, Any]:
        suffix = f"?clusters={','.join(clusters)}" if clusters else ""
        return cast("dict[str, Any]", self._call("GET", f"/kubeconfig{suffix}"))

    def remote_secret(self, cluster: str, namespace: str = "istio-system") -> dict[str, Any]:
        query = urllib.parse.urlencode({"namespace": namespace})
        return cast(
            "dict[str, Any]", self._call("GET", f"/clusters/{cluster}/remote-secret?{query}")
        )

    def down(self, cluster: str) -> None:
        self._call("POST", f"/clusters/{cluster}/down")

    def up(self, cluster: str) -> None:
        self._call("POST", f"/clusters/{cluster}/up")

    def objects(
        self, cluster: str, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode(
            {
                "apiVersion": api_version,
                "kind": kind,
                **({"namespace": namespace} if namespace else {}),
            }
        )
        return cast(
            "list[dict[str, Any]]",
            self._call("GET", f"/clusters/{cluster}/objects?{query}")["items"],
        )

    def put(self, cluster: str, *objects: dict[str, Any]) -> list[dict[str, Any]]:
        return cast(
            "list[dict[str, Any]]",
            self._call("PUT", f"/clusters/{cluster}/objects", {"items": list(objects)})["items"],
        )

    def delete(
        self, cluster: str, api_version: str, kind: str, name: str, namespace: str = ""
    ) -> dict[str, Any]:
        body = {"apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace}
        return cast(
            "dict[str, Any]", self._call("POST", f"/clusters/{cluster}/objects/delete", body)
        )

    def set_load_balancer(
        self, cluster: str, namespace: str, name: str, ingress: list[dict[str, str]]
    ) -> dict[str, Any]:
        body = {"namespace": namespace, "name": name, "ingress": ingress}
        return cast(
            "dict[str, Any]", self._call("POST", f"/clusters/{cluster}/load-balancer", body)
        )

    def rotate_token(self, cluster: str) -> None:
        """The cluster's bearer token changes; `kubeconfig` and `remote_secret` carry the new."""
        self._call("POST", f"/clusters/{cluster}/token")

    def stall_watches(self, cluster: str) -> int:
        """Open watches go silent without closing (half-open); returns how many."""
        return cast("int", self._call("POST", f"/clusters/{cluster}/watches/stall")["stalled"])

    def drop_watches(self, cluster: str) -> int:
        return cast("int", self._call("POST", f"/clusters/{cluster}/watches/drop")["dropped"])

    def compact(self, cluster: str) -> int:
        return cast("int", self._call("POST", f"/clusters/{cluster}/compact")["compactedTo"])

    def set_service_entries(self, cluster: str, installed: bool) -> None:
        self._call("PUT", f"/clusters/{cluster}/crds/serviceentries", {"installed": installed})

    def set_crd(self, cluster: str, name: str, installed: bool = True) -> None:
        """Install or remove an optional CRD: `helmchartconfigs` (RKE2), `dnses` (OpenShift),
        `serviceexports` and `serviceimports` (Multi-Cluster Services)."""
        self._call("PUT", f"/clusters/{cluster}/crds/{name}", {"installed": installed})

    def pod_outcome(self, cluster: str, outcome: str) -> None:
        """What becomes of Deployments' pods written from now on (`workloads.PodOutcome`)."""
        self._call("PUT", f"/clusters/{cluster}/pods", {"outcome": outcome})

    def forbid(self, cluster: str, resource: str, verb: str | None = None) -> None:
        body = {"resource": resource, "verb": verb}
        self._call("POST", f"/clusters/{cluster}/faults/forbidden", body)

    def conflict_next(
        self, cluster: str, resource: str, name: str, namespace: str = "", count: int = 1
    ) -> None:
        body = {"resource": resource, "namespace": namespace, "name": name, "count": count}
        self._call("POST", f"/clusters/{cluster}/faults/conflict", body)

    def delay(self, cluster: str, seconds: float) -> None:
        self._call("POST", f"/clusters/{cluster}/faults/delay", {"seconds": seconds})

    def fail(self, cluster: str, code: int, retry_after: int | None = None) -> None:
        """Every request answers `code` (401, 429, 503...), with Retry-After when given."""
        body = {"code": code, "retryAfter": retry_after}
        self._call("POST", f"/clusters/{cluster}/faults/status", body)

    def hang(self, cluster: str) -> None:
        """Every new request waits unanswered until `clear_faults`."""
        self._call("POST", f"/clusters/{cluster}/faults/hang")

    def clear_faults(self, cluster: str) -> None:
        self._call("DELETE", f"/clusters/{cluster}/faults")

    def token_presented(self, cluster: str, token: str) -> bool:
        """Whether any request to the cluster ever carried this bearer token."""
        body = {"token": token}
        return bool(self._call("POST", f"/clusters/{cluster}/tokens/presented", body)["presented"])

    def requests(self, cluster: str) -> list[dict[str, Any]]:
        return cast(
            "list[dict[str, Any]]", self._call("GET", f"/clusters/{cluster}/requests")["items"]
        )

    def clear_requests(self, cluster: str) -> None:
        self._call("DELETE", f"/clusters/{cluster}/requests")
