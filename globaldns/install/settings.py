"""The settings of `install`, `uninstall` and `remote-secret`: their flags (declared as
`config.Option`s, grouped as `--help` shows them) and the frozen types the commands read.

The same `--config` a pod runs with is accepted; its keys for other commands are ignored.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from globaldns import manifests
from globaldns.config import Option, flag, host_port, path, seconds, setting, text
from globaldns.config.common import (
    CONTEXT,
    KUBECONFIG,
    KUBECONFIG_OPTIONS,
    LOCAL_CLUSTER,
    LOG_OPTIONS,
    SOURCE_FILE_OPTIONS,
    TTL,
    ZONE,
)
from globaldns.config.values import DEFAULT_NAMESPACE, zone_name
from globaldns.install.options import DNS_LABEL, InstallOptions
from globaldns.sources.kubernetes.options import REMOTE_SECRET_LABEL, label_selector

COMMANDS = ("install", "uninstall", "remote-secret")
ISTIO_COMPONENT = "istio-remote-secrets"  # reads remote secrets in istio-system
ALL_CONTEXTS = "all"

OPTIONAL_COMPONENTS = manifests.component_names()


def component(value: str) -> str:
    """An opt-in component's name (`keep-wired` is also `--keep-wired`)."""
    name = value.strip()
    if name not in OPTIONAL_COMPONENTS:
        raise ValueError(f"no component {name!r}; there are {', '.join(OPTIONAL_COMPONENTS)}")
    return name


def cluster_id(value: str) -> str:
    """A cluster ID usable in DNS names: one lower-case label (RFC 1123)."""
    name = value.strip()
    if not DNS_LABEL.fullmatch(name):
        raise ValueError(
            f"{value!r} is not a DNS label (1-63 of a-z, 0-9 and '-', starting and ending "
            "with a letter or digit); name the cluster as Istio's CLUSTER_ID does, e.g. uswest2"
        )
    return name


def node_cidr(value: str) -> str:
    """A network in CIDR form (`10.0.0.0/16`, `fd00::/64`), host bits zero."""
    try:
        return str(ipaddress.ip_network(value.strip()))
    except ValueError as err:
        raise ValueError(f"{value!r} is not a network such as 10.0.0.0/16 ({err})") from None


CONTEXTS = Option(
    "--contexts",
    text,
    "",
    f"contexts to act on: `{ALL_CONTEXTS}` or NAME,NAME (default: --context, else the current)",
)
DRY_RUN = Option(
    "--dry-run", flag, False, "print the changes as a diff; write nothing", switch=True
)
KUSTOMIZE = Option(
    "--kustomize",
    path,
    None,
    "apply the kustomize overlay in DIR (rendered by `kubectl kustomize`) instead of the "
    "bundled manifests, so its limits, image, flags and namespace survive re-runs; components "
    "go in the overlay",
    metavar="DIR",
)
CLUSTER_ID = Option(
    "--cluster-id",
    cluster_id,
    None,
    "the cluster's name in the mesh (default: istiod's CLUSTER_ID where Istio runs, else "
    "the context name), a DNS label",
    metavar="NAME",
)
IMAGE = Option(
    "--image", text, None, "image the globaldns Deployment runs (default: the manifests')"
)
KEEP_WIRED = Option(
    "--keep-wired",
    flag,
    False,
    "also apply components/keep-wired: the server puts its CoreDNS block back",
    switch=True,
)
TIMEOUT = Option(
    "--timeout",
    seconds,
    120.0,
    "seconds to wait for the Service's ClusterIP, then for a pod to be ready and answer",
)
CHECK_ADDRESS = Option(
    "--check-address",
    host_port,
    None,
    "where install asks globaldns before wiring CoreDNS (default: the Service's "
    "ClusterIP:53; outside the cluster network, a `kubectl port-forward` address)",
    metavar="HOST:PORT",
)
COMPONENT = Option(
    "--component",
    component,
    (),
    f"also apply manifests/components/NAME (repeatable): {', '.join(OPTIONAL_COMPONENTS)}",
    repeatable=True,
    metavar="NAME",
)
REMOTE_SECRETS = Option(
    "--remote-secrets",
    flag,
    False,
    "also give each wired cluster the others' remote Secrets (see `globaldns remote-secret`), "
    f"in the globaldns namespace, or istio-system with --component {ISTIO_COMPONENT}",
    switch=True,
)
NODE_CIDR = Option(
    "--node-cidr",
    node_cidr,
    (),
    "with --component networkpolicy: the nodes' addresses, admitted for NodeLocal "
    "DNSCache (hostNetwork) queries (repeatable)",
    repeatable=True,
    metavar="CIDR",
)
RENDER = Option(
    "--render",
    flag,
    False,
    "print what would be applied, as YAML, contacting no cluster (contexts named by "
    "--context/--contexts, else the kubeconfig's)",
    switch=True,
)
COREFILE = Option(
    "--corefile",
    path,
    None,
    "with --render: a saved Corefile (kubectl -n kube-system get configmap coredns "
    "-o jsonpath='{.data.Corefile}') to show install's edit to",
)
INSTALL_OPTIONS = (CONTEXTS, DRY_RUN, KUSTOMIZE, CLUSTER_ID, IMAGE, KEEP_WIRED, TIMEOUT,
                   CHECK_ADDRESS, COMPONENT, REMOTE_SECRETS, NODE_CIDR, RENDER,
                   COREFILE)  # fmt: skip
UNINSTALL_OPTIONS = (CONTEXTS, DRY_RUN, KUSTOMIZE)


def _zone_names(value: str) -> tuple[str, ...]:
    """`global,clusterset.local`: zone names, commas between them."""
    return tuple(zone_name(part) for part in str(value).split(",") if part.strip())


ZONES = Option(
    "--zones",
    _zone_names,
    (),
    "the zones to wire, --zone among them: global,clusterset.local also forwards the "
    "Multi-Cluster Services zone to globaldns (refused where CoreDNS serves it itself); "
    "uninstall always unwires clusterset.local too",
    repeatable=True,
    together=lambda given: tuple(zone for names in given for zone in names),
    metavar="ZONE,...",
)

NAME = Option("--name", text, None, "the cluster's name in the mesh; unset: the context's name")
SECRET_NAMESPACE = Option(
    "--remote-secret-namespace",
    text,
    DEFAULT_NAMESPACE,
    f"namespace the Secret is for (istio-system with the {ISTIO_COMPONENT} component)",
)
SECRET_LABEL = Option(
    "--remote-secret-label",
    label_selector,
    REMOTE_SECRET_LABEL,
    "label selector the reading globaldns uses; the Secret carries those labels",
    metavar="SELECTOR",
)
TOKEN_TIMEOUT = Option("--timeout", seconds, 60.0, "seconds to wait for the reader's token")
REMOTE_SECRET_OPTIONS = (NAME, SECRET_NAMESPACE, SECRET_LABEL, TOKEN_TIMEOUT)


def option_groups(command: str) -> tuple[tuple[str, tuple[Option, ...]], ...]:
    """The flags `install`, `uninstall` or `remote-secret` reads, grouped as `--help` shows
    them."""
    if command == "remote-secret":
        return (("Kubernetes", KUBECONFIG_OPTIONS), ("logging", LOG_OPTIONS),
                ("remote secret", REMOTE_SECRET_OPTIONS))  # fmt: skip
    own = INSTALL_OPTIONS if command == "install" else UNINSTALL_OPTIONS
    return (
        ("sources", tuple(o for o in SOURCE_FILE_OPTIONS if o.flag != "--mesh")),
        ("Kubernetes", KUBECONFIG_OPTIONS),
        ("DNS answers (written into CoreDNS)", (ZONE, ZONES, TTL)),
        ("logging", LOG_OPTIONS),
        ("installer", own),
    )


def options_of(command: str) -> tuple[Option, ...]:
    return tuple(option for _, group in option_groups(command) for option in group)


@dataclass(frozen=True, kw_only=True)
class InstallSettings:
    """What `install` and `uninstall` were told (`uninstall` reads fewer flags)."""

    kubeconfig: Path | None = setting(KUBECONFIG)
    context: tuple[str, ...] = setting(CONTEXT)
    contexts: str = setting(CONTEXTS)
    local_cluster: str | None = setting(LOCAL_CLUSTER)
    cluster_id: str | None = setting(CLUSTER_ID)
    zone: str = setting(ZONE)
    zones: tuple[str, ...] = setting(ZONES)
    ttl: int = setting(TTL)
    dry_run: bool = setting(DRY_RUN)
    kustomize: Path | None = setting(KUSTOMIZE)
    image: str | None = setting(IMAGE)
    keep_wired: bool = setting(KEEP_WIRED)
    timeout: float = setting(TIMEOUT)
    check_address: tuple[str, int] | None = setting(CHECK_ADDRESS)
    component: tuple[str, ...] = setting(COMPONENT)
    remote_secrets: bool = setting(REMOTE_SECRETS)
    node_cidr: tuple[str, ...] = setting(NODE_CIDR)
    render: bool = setting(RENDER)
    corefile: Path | None = setting(COREFILE)

    @property
    def named_cluster(self) -> str | None:
        """The cluster's name the operator gave (`--cluster-id`, else `--local-cluster`)."""
        return self.cluster_id or self.local_cluster

    def for_context(self, context: str) -> InstallOptions:
        """What `install` does in `context`: it names the local cluster unless told otherwise."""
        given = self.named_cluster
        return InstallOptions(
            zone=self.zone,
            ttl=self.ttl,
            also=tuple(zone for zone in dict.fromkeys(self.zones) if zone != self.zone),
            image=self.image,
            local_cluster=given or context,
            named=bool(given),
            keep_wired=self.keep_wired,
            dry_run=self.dry_run,
            timeout=self.timeout,
            components=self.component,
            check_address=self.check_address,
            node_cidrs=self.node_cidr,
            kustomize=self.kustomize,
        )


@dataclass(frozen=True, kw_only=True)
class RemoteSecretSettings:
    """What `remote-secret` was told: whose Secret, for which reader."""

    kubeconfig: Path | None = setting(KUBECONFIG)
    context: tuple[str, ...] = setting(CONTEXT)
    name: str | None = setting(NAME)
    namespace: str = setting(SECRET_NAMESPACE)
    label: str = setting(SECRET_LABEL)
    timeout: float = setting(TOKEN_TIMEOUT)
