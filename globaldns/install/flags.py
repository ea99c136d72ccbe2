"""The flags of `install`, `uninstall` and `remote-secret`: each one's parser and help,
grouped as `--help` shows them (the same `--config` file a pod runs with is accepted)."""

from __future__ import annotations

import ipaddress

from globaldns import manifests
from globaldns.config import (
    ANSWER_OPTIONS,
    KUBECONFIG_OPTIONS,
    LOG_OPTIONS,
    SOURCE_FILE_OPTIONS,
    Option,
    flag,
    host_port,
    path,
    seconds,
    text,
)
from globaldns.install.options import DNS_LABEL
from globaldns.sources.kubernetes.options import (
    DEFAULT_NAMESPACE,
    REMOTE_SECRET_LABEL,
    label_selector,
)

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

INSTALL_OPTIONS = (
    CONTEXTS,
    DRY_RUN,
    KUSTOMIZE,
    Option(
        "--cluster-id",
        cluster_id,
        None,
        "the cluster's name in the mesh (default: istiod's CLUSTER_ID where Istio runs, else "
        "the context name), a DNS label",
        metavar="NAME",
    ),
    Option("--image", text, None, "image the globaldns Deployment runs (default: the manifests')"),
    Option(
        "--keep-wired",
        flag,
        False,
        "also apply components/keep-wired: the server puts its CoreDNS block back",
        switch=True,
    ),
    Option(
        "--timeout",
        seconds,
        120.0,
        "seconds to wait for the Service's ClusterIP, then for a pod to be ready and answer",
    ),
    Option(
        "--check-address",
        host_port,
        None,
        "where install asks globaldns before wiring CoreDNS (default: the Service's "
        "ClusterIP:53; outside the cluster network, a `kubectl port-forward` address)",
        metavar="HOST:PORT",
    ),
    Option(
        "--component",
        component,
        (),
        f"also apply manifests/components/NAME (repeatable): {', '.join(OPTIONAL_COMPONENTS)}",
        repeatable=True,
        metavar="NAME",
    ),
    Option(
        "--remote-secrets",
        flag,
        False,
        "also give each wired cluster the others' remote Secrets (see `globaldns remote-secret`), "
        f"in the globaldns namespace, or istio-system with --component {ISTIO_COMPONENT}",
        switch=True,
    ),
    Option(
        "--node-cidr",
        node_cidr,
        (),
        "with --component networkpolicy: the nodes' addresses, admitted for NodeLocal "
        "DNSCache (hostNetwork) queries (repeatable)",
        repeatable=True,
        metavar="CIDR",
    ),
    Option(
        "--render",
        flag,
        False,
        "print what would be applied, as YAML, contacting no cluster (contexts named by "
        "--context/--contexts, else the kubeconfig's)",
        switch=True,
    ),
    Option(
        "--corefile",
        path,
        None,
        "with --render: a saved Corefile (kubectl -n kube-system get configmap coredns "
        "-o jsonpath='{.data.Corefile}') to show install's edit to",
    ),
)

REMOTE_SECRET_OPTIONS = (
    Option("--name", text, None, "the cluster's name in the mesh; unset: the context's name"),
    Option(
        "--remote-secret-namespace",
        text,
        DEFAULT_NAMESPACE,
        f"namespace the Secret is for (istio-system with the {ISTIO_COMPONENT} component)",
    ),
    Option(
        "--remote-secret-label",
        label_selector,
        REMOTE_SECRET_LABEL,
        "label selector the reading globaldns uses; the Secret carries those labels",
        metavar="SELECTOR",
    ),
    Option("--timeout", seconds, 60.0, "seconds to wait for the reader's token"),
)

UNINSTALL_OPTIONS = (CONTEXTS, DRY_RUN, KUSTOMIZE)


def option_groups(command: str) -> tuple[tuple[str, tuple[Option, ...]], ...]:
    """The flags `install` or `uninstall` reads, grouped as `--help` shows them.

    The same `--config` a pod runs with is accepted; its keys for other commands are ignored.
    """
    if command == "remote-secret":
        return (("Kubernetes", KUBECONFIG_OPTIONS), ("logging", LOG_OPTIONS),
                ("remote secret", REMOTE_SECRET_OPTIONS))  # fmt: skip
    own = INSTALL_OPTIONS if command == "install" else UNINSTALL_OPTIONS
    return (
        ("sources", tuple(o for o in SOURCE_FILE_OPTIONS if o.flag != "--mesh")),
        ("Kubernetes", KUBECONFIG_OPTIONS),
        (
            "DNS answers (written into CoreDNS)",
            tuple(o for o in ANSWER_OPTIONS if o.flag in ("--zone", "--ttl")),
        ),
        ("logging", LOG_OPTIONS),
        ("installer", own),
    )


def options_of(command: str) -> tuple[Option, ...]:
    return tuple(option for _, group in option_groups(command) for option in group)
