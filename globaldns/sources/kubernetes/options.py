"""The Kubernetes source's settings: its flags (as `Option`s), the `kubernetes:` file section,
and the frozen types the source reads (`KubeSettings`, holding the `Selection` of Services).

The flags go through globaldns.config like every other option, so the one precedence applies.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from globaldns.config import ConfigError, Option, flag, seconds, setting, text
from globaldns.config.common import CONTEXT, KUBECONFIG, LOCAL_CLUSTER, ZONE
from globaldns.config.option import part, section
from globaldns.config.values import (
    DEFAULT_NAMESPACE,
    NAMESPACE_ENV,
    SERVICE_ACCOUNT_NAMESPACE,
    pod_namespace,
)
from globaldns.sources.kubernetes.remote_kubeconfig import Allow

SERVICE_ACCOUNT_DIR = SERVICE_ACCOUNT_NAMESPACE.parent  # with the token, in a pod
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


def at_least(floor: float) -> Callable[[str | int | float], float]:
    """Seconds, raised to `floor` (a busy loop of retries or lookups helps nobody)."""

    def parse(value: str | int | float) -> float:
        return max(seconds(value), floor)

    return parse


@dataclass(frozen=True)
class ClusterOverride:
    """Static facts about a cluster from the config file; they beat what the API says."""

    region: str | None = None
    gateways: tuple[str, ...] | None = None


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


IDENTITY_LABEL = Option(
    "--identity-label", text, "identity", "label (on a Service or its Namespace) naming it"
)
EXPORT_NAMESPACE = Option(
    "--export-namespace",
    text,
    (),
    "namespace whose Services are exported (repeatable; default: all but the excluded)",
    repeatable=True,
    together=frozenset,
)
EXCLUDE_NAMESPACE = Option(
    "--exclude-namespace",
    text,
    ("kube-system", "istio-system"),
    "namespace whose Services are never exported (repeatable)",
    repeatable=True,
    together=frozenset,
)
EXPORT_SELECTOR = Option(
    "--export-selector",
    label_selector,
    "",
    "label selector a Service must match",
    metavar="SELECTOR",
)
GATEWAY_SERVICE = Option(
    "--gateway-service",
    namespaced_name,
    ("istio-system/istio-eastwestgateway", "istio-system/istio-ingressgateway"),
    "NAMESPACE/NAME of the gateway Service, first found wins (repeatable)",
    repeatable=True,
    metavar="NAMESPACE/NAME",
)
REMOTE_SECRET_NAMESPACE = Option(
    "--remote-secret-namespace",
    text,
    None,
    f"namespace of remote-cluster Secrets; unset: the pod's own (${NAMESPACE_ENV} or its "
    f"service account's), outside a pod {DEFAULT_NAMESPACE}",
)
REMOTE_SECRET_SELECTOR = Option(
    "--remote-secret-label",
    label_selector,
    REMOTE_SECRET_LABEL,
    "label selector of remote-cluster Secrets",
    metavar="SELECTOR",
)
ALLOW_REMOTE_KUBECONFIG = Option(
    "--allow-remote-kubeconfig",
    allowed_options,
    frozenset(),
    "kubeconfig options a remote Secret may use, comma-separated; refused by default: "
    + ", ".join(Allow),
    metavar="OPTION,OPTION",
)
SERVE_STALE = Option(
    "--serve-stale", seconds, 300.0, "seconds an unreachable cluster's entries keep serving"
)
SYNC_TIMEOUT = Option(
    "--sync-timeout", seconds, 60.0, "seconds a first sync may take before it stops blocking"
)
READY_WAIT_REMOTE = Option(
    "--ready-wait-remote",
    seconds,
    0.0,
    "at start, /ready also waits up to this long for every cluster's first sync "
    "(0: only the local cluster's)",
)
GATEWAY_RESOLVE_INTERVAL = Option(
    "--gateway-resolve-interval",
    at_least(0.1),
    30.0,
    "seconds between gateway hostname lookups",
    metavar="SECONDS",
)
WATCH_BACKOFF_MAX = Option(
    "--watch-backoff-max",
    at_least(0.1),
    30.0,
    "longest wait before retrying a broken watch",
    metavar="SECONDS",
)
WATCH_LIVENESS = Option(
    "--watch-liveness",
    at_least(0.5),
    20.0,
    "a watch with no event or bookmark for this long is replaced, and a request with no "
    "answer within it fails (a dead connection is replaced within 30 s by default)",
    metavar="SECONDS",
)


class WatchProcessMode(StrEnum):
    """Where `serve` runs the watches: in a process of their own (decoding and stripping API
    objects never holds the serving process's GIL), or on a thread of the serving process."""

    ON = "on"
    OFF = "off"


def watch_process(value: str | bool) -> WatchProcessMode:
    if isinstance(value, bool):  # YAML's `on` and `off`
        return WatchProcessMode.ON if value else WatchProcessMode.OFF
    try:
        return WatchProcessMode(str(value).strip().lower())
    except ValueError:
        raise ValueError(f"{value!r} is neither on nor off") from None


WATCH_PROCESS = Option(
    "--watch-process",
    watch_process,
    WatchProcessMode.ON,
    "serve: run the watches in a process of their own (on), restarted when it dies or hangs, "
    "or on a thread of the server's (off); `table` always uses a thread",
    choices=tuple(mode.value for mode in WatchProcessMode),
)
WATCH_PROCESS_TIMEOUT = Option(
    "--watch-process-timeout",
    at_least(2.0),
    10.0,
    "a watch process silent this long (it beats every second) is taken as hung, killed and "
    "restarted",
    metavar="SECONDS",
)
MCS_IMPORTS = Option(
    "--mcs-imports",
    flag,
    False,
    "also read the local cluster's ServiceImports and the EndpointSlices an MCS "
    "implementation labels with their source cluster into clusterset.local",
    switch=True,
)
KUBERNETES_OPTIONS = (
    IDENTITY_LABEL,
    EXPORT_NAMESPACE,
    EXCLUDE_NAMESPACE,
    EXPORT_SELECTOR,
    GATEWAY_SERVICE,
    REMOTE_SECRET_NAMESPACE,
    REMOTE_SECRET_SELECTOR,
    ALLOW_REMOTE_KUBECONFIG,
    SERVE_STALE,
    SYNC_TIMEOUT,
    READY_WAIT_REMOTE,
    GATEWAY_RESOLVE_INTERVAL,
    WATCH_BACKOFF_MAX,
    WATCH_LIVENESS,
    WATCH_PROCESS,
    WATCH_PROCESS_TIMEOUT,
    MCS_IMPORTS,
)


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which Services are exported and how they are named; fixed for the process's life."""

    identity_label: str = setting(IDENTITY_LABEL)
    export_namespaces: frozenset[str] = setting(EXPORT_NAMESPACE)
    exclude_namespaces: frozenset[str] = setting(EXCLUDE_NAMESPACE)
    export_selector: str = setting(EXPORT_SELECTOR)
    gateway_services: tuple[str, ...] = setting(GATEWAY_SERVICE)
    zone: str = setting(ZONE)

    def namespace_exported(self, namespace: str) -> bool:
        if namespace in self.exclude_namespaces:
            return False
        return not self.export_namespaces or namespace in self.export_namespaces

    def labels_match(self, labels: Mapping[str, Any]) -> bool:
        for term in (t.strip() for t in self.export_selector.split(",")):
            if term and not _term_matches(term, labels):
                return False
        return True


def _term_matches(term: str, labels: Mapping[str, Any]) -> bool:
    if term.startswith("!"):
        return term[1:] not in labels
    for op in ("!=", "==", "="):
        key, sep, value = term.partition(op)
        if sep:
            return labels.get(key) != value if op == "!=" else labels.get(key) == value
    return term in labels


@dataclass(frozen=True, kw_only=True)
class KubeSettings:
    """What the Kubernetes source reads: which clusters, which Services, and its timings."""

    kubeconfig: Path | None = setting(KUBECONFIG)
    contexts: tuple[str, ...] = setting(CONTEXT)
    local_cluster: str | None = setting(LOCAL_CLUSTER)
    selection: Selection = part(Selection)
    remote_secret_namespace: str | None = setting(REMOTE_SECRET_NAMESPACE)
    secret_selector: str = setting(REMOTE_SECRET_SELECTOR)
    allowed: frozenset[Allow] = setting(ALLOW_REMOTE_KUBECONFIG)  # remote kubeconfigs may use
    serve_stale: float = setting(SERVE_STALE)
    sync_timeout: float = setting(SYNC_TIMEOUT)
    ready_wait_remote: float = setting(READY_WAIT_REMOTE)
    resolve_interval: float = setting(GATEWAY_RESOLVE_INTERVAL)
    backoff_max: float = setting(WATCH_BACKOFF_MAX)
    liveness: float = setting(WATCH_LIVENESS)
    watch_process: WatchProcessMode = setting(WATCH_PROCESS)
    watch_process_timeout: float = setting(WATCH_PROCESS_TIMEOUT)
    mcs_imports: bool = setting(MCS_IMPORTS)
    overrides: Mapping[str, ClusterOverride] = section("kubernetes", cluster_overrides)

    @property
    def secret_namespace(self) -> str:
        """Where remote-cluster Secrets are read: the flag's, else the pod's own namespace."""
        return self.remote_secret_namespace or pod_namespace()

    @property
    def configured(self) -> bool:
        """A kubeconfig is given, or this runs in a pod: the Kubernetes source runs."""
        return self.kubeconfig is not None or in_pod()


def in_pod() -> bool:
    """Running in a pod with a service account: the local cluster comes from in-cluster config."""
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").exists()
    )
