"""The Kubernetes source's settings: its flags (as `Option`s) and the `kubernetes:` file section.

The flags go through globaldns.config like every other option, so the one precedence applies;
`KubeSettings.from_settings` turns the resolved values into what the source reads.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from globaldns.config import ConfigError, Option, seconds, text
from globaldns.sources.kubernetes.remote_kubeconfig import Allow

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
POD_NAMESPACE_ENV = "POD_NAMESPACE"  # set by the downward API in manifests/deployment.yaml
DEFAULT_NAMESPACE = "globaldns"  # the manifests' namespace, outside a pod
REMOTE_SECRET_LABEL = "istio/multiCluster=true"  # as istioctl create-remote-secret labels them
_SELECTOR_TERM = re.compile(r"^(!?)([A-Za-z0-9./_-]+)(?:(==|=|!=)([A-Za-z0-9._-]*))?$")


def namespaced_name(value: str) -> str:
    namespace, sep, name = str(value).partition("/")
    if not sep or not namespace or not name:
        raise ValueError(
            f"{value!r} is not NAMESPACE/NAME (e.g. istio-system/istio-eastwestgateway)"
        )
    return f"{namespace}/{name}"


def label_selector(value: str) -> str:
    """Equality and existence terms only (`a=b,c!=d,e,!f`), checked here so typos fail at start."""
    for term in (t.strip() for t in str(value).split(",")):
        if term and not _SELECTOR_TERM.match(term):
            raise ValueError(
                f"{term!r} in {value!r} is not a label term (key=value, key!=value, key, !key)"
            )
    return str(value).strip()


def allowed_options(value: str | list[str]) -> frozenset[Allow]:
    """`exec,token-file` (a flag or variable) or a list (the config file) of `Allow` options."""
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        return frozenset(Allow(str(item).strip()) for item in items if str(item).strip())
    except ValueError:
        raise ValueError(
            f"{value!r} names an unknown option; the options are {', '.join(Allow)}"
        ) from None


def pod_namespace() -> str:
    """The namespace the pod runs in (downward API, else its service account's), else the
    manifests' namespace."""
    named = os.environ.get(POD_NAMESPACE_ENV, "").strip()
    if named:
        return named
    try:
        return (SERVICE_ACCOUNT_DIR / "namespace").read_text()[:253].strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


KUBERNETES_OPTIONS = (
    Option("--identity-label", text, "identity", "label (on a Service or its Namespace) naming it"),
    Option(
        "--export-namespace",
        text,
        (),
        "namespace whose Services are exported (repeatable; default: all but the excluded)",
        repeatable=True,
    ),
    Option(
        "--exclude-namespace",
        text,
        ("kube-system", "istio-system"),
        "namespace whose Services are never exported (repeatable)",
        repeatable=True,
    ),
    Option(
        "--export-selector",
        label_selector,
        "",
        "label selector a Service must match",
        metavar="SELECTOR",
    ),
    Option(
        "--gateway-service",
        namespaced_name,
        ("istio-system/istio-eastwestgateway", "istio-system/istio-ingressgateway"),
        "NAMESPACE/NAME of the gateway Service, first found wins (repeatable)",
        repeatable=True,
        metavar="NAMESPACE/NAME",
    ),
    Option(
        "--remote-secret-namespace",
        text,
        None,
        f"namespace of remote-cluster Secrets; unset: the pod's own (${POD_NAMESPACE_ENV} or its "
        f"service account's), outside a pod {DEFAULT_NAMESPACE}",
    ),
    Option(
        "--remote-secret-label",
        label_selector,
        REMOTE_SECRET_LABEL,
        "label selector of remote-cluster Secrets",
        metavar="SELECTOR",
    ),
    Option(
        "--allow-remote-kubeconfig",
        allowed_options,
        None,
        "kubeconfig options a remote Secret may use, comma-separated; refused by default: "
        + ", ".join(Allow),
        metavar="OPTION,OPTION",
    ),
    Option(
        "--serve-stale", seconds, 300.0, "seconds an unreachable cluster's entries keep serving"
    ),
    Option(
        "--sync-timeout", seconds, 60.0, "seconds a first sync may take before it stops blocking"
    ),
    Option(
        "--ready-wait-remote",
        seconds,
        0.0,
        "at start, /ready also waits up to this long for every cluster's first sync "
        "(0: only the local cluster's)",
    ),
    Option("--gateway-resolve-interval", seconds, 30.0, "seconds between gateway hostname lookups"),
    Option("--watch-backoff-max", seconds, 30.0, "longest wait before retrying a broken watch"),
    Option(
        "--watch-liveness",
        seconds,
        20.0,
        "a watch with no event or bookmark for this long is replaced, and a request with no "
        "answer within it fails (a dead connection is replaced within 30 s by default)",
    ),
)


@dataclass(frozen=True)
class ClusterOverride:
    """Static facts about a cluster from the config file; they beat what the API says."""

    region: str | None = None
    gateways: tuple[str, ...] | None = None


@dataclass(frozen=True)
class KubeSettings:
    kubeconfig: Path | None
    contexts: tuple[str, ...]
    local_cluster: str | None
    zone: str
    identity_label: str
    export_namespaces: frozenset[str]
    exclude_namespaces: frozenset[str]
    export_selector: str
    gateway_services: tuple[str, ...]
    secret_namespace: str
    secret_selector: str
    serve_stale: float
    sync_timeout: float
    resolve_interval: float
    backoff_max: float
    liveness: float
    overrides: dict[str, ClusterOverride] = field(default_factory=dict)
    allowed: frozenset[Allow] = frozenset()  # options remote kubeconfigs may use

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> KubeSettings:
        return cls(
            kubeconfig=settings["kubeconfig"],
            contexts=tuple(settings["context"]),
            local_cluster=settings["local_cluster"],
            zone=settings["zone"],
            identity_label=settings["identity_label"],
            export_namespaces=frozenset(settings["export_namespace"]),
            exclude_namespaces=frozenset(settings["exclude_namespace"]),
            export_selector=settings["export_selector"],
            gateway_services=tuple(settings["gateway_service"]),
            secret_namespace=settings["remote_secret_namespace"] or pod_namespace(),
            secret_selector=settings["remote_secret_label"],
            serve_stale=settings["serve_stale"],
            sync_timeout=settings["sync_timeout"],
            resolve_interval=max(settings["gateway_resolve_interval"], 0.1),
            backoff_max=max(settings["watch_backoff_max"], 0.1),
            liveness=max(settings["watch_liveness"], 0.5),
            overrides=cluster_overrides(settings.get("kubernetes") or {}),
            allowed=settings["allow_remote_kubeconfig"] or frozenset(),
        )


def in_pod() -> bool:
    """Running in a pod with a service account: the local cluster comes from in-cluster config."""
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").exists()
    )


def configured(settings: dict[str, Any]) -> bool:
    return settings["kubeconfig"] is not None or in_pod()


def cluster_overrides(section: Any) -> dict[str, ClusterOverride]:
    """`kubernetes: {clusters: {NAME: {region: R, gateways: [IP, ...]}}}` from the config file."""
    where = "config file: kubernetes"
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: must be a mapping such as {{clusters: {{NAME: {{...}}}}}}")
    unknown = sorted(set(section) - {"clusters"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: ['clusters']")
    clusters = section.get("clusters") or {}
    if not isinstance(clusters, dict):
        raise ConfigError(f"{where}.clusters: must map cluster names to {{region, gateways}}")
    out: dict[str, ClusterOverride] = {}
    for name, spec in clusters.items():
        sub = f"{where}.clusters.{name}"
        if not isinstance(spec, dict) or set(spec) - {"region", "gateways"}:
            raise ConfigError(f"{sub}: must be a mapping with only region and/or gateways")
        region = spec.get("region")
        if region is not None and not isinstance(region, str):
            raise ConfigError(f"{sub}.region: must be a region name, not {region!r}")
        gateways = spec.get("gateways")
        if gateways is not None:
            if not isinstance(gateways, list):
                raise ConfigError(f"{sub}.gateways: must be a list of IP addresses")
            try:
                gateways = tuple(str(ipaddress.ip_address(str(g))) for g in gateways)
            except ValueError as err:
                raise ConfigError(f"{sub}.gateways: {err}") from err
        out[str(name)] = ClusterOverride(region.lower() if region else None, gateways)
    return out
