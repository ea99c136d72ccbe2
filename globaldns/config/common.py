"""The options several commands share, and the settings types that read them: where the table
comes from, which kubeconfig, what the answers look like, and logging.

`install` reads some of these too (the pod's config file serves every command), so they live
here, below every subsystem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from globaldns.config.option import Option, setting
from globaldns.config.values import (
    address,
    dns_name,
    one_of,
    one_per_family,
    path,
    pod_namespace,
    positive,
    text,
    ttl,
    zone_name,
)

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")

# Where the table comes from (each command's `--config` is the file a pod runs with).
CONFIG = Option("--config", path, None, "YAML config file (keys are the flags in camelCase)")
MESH = Option("--mesh", path, None, "static mesh file (YAML); re-read when it changes")
LOCAL_CLUSTER = Option("--local-cluster", text, None, "name of the cluster this server runs in")
SOURCE_FILE_OPTIONS = (CONFIG, MESH, LOCAL_CLUSTER)

KUBECONFIG = Option("--kubeconfig", path, None, "kubeconfig whose contexts are the mesh's clusters")
CONTEXT = Option(
    "--context",
    text,
    (),
    "kubeconfig context to use (repeatable; all when none is given)",
    repeatable=True,
)
KUBECONFIG_OPTIONS = (KUBECONFIG, CONTEXT)

ZONE = Option("--zone", zone_name, "global", "zone served")
TTL = Option("--ttl", ttl, 5, "TTL of answers and of negative answers (SOA minimum)")
MAX_ANSWERS = Option("--max-answers", positive, None, "cap on records of one type in an answer")
NAMESERVER = Option(
    "--nameserver",
    dns_name,
    None,
    "apex NS and SOA MNAME (none: globaldns.<pod namespace>.svc.<cluster domain>)",
)
CLUSTER_DOMAIN = Option("--cluster-domain", dns_name, "cluster.local", "the cluster's DNS domain")
DEFAULT_ADDRESS = Option(
    "--default-address",
    address,
    (),
    "what a ServiceEntry without addresses answers, as istiocoredns's flag (repeatable: "
    "one IPv4, one IPv6; none: such entries are not named)",
    repeatable=True,
    together=one_per_family,
)
ANSWER_OPTIONS = (ZONE, TTL, MAX_ANSWERS, NAMESERVER, CLUSTER_DOMAIN, DEFAULT_ADDRESS)

LOG_LEVEL = Option(
    "--log-level", one_of(LOG_LEVELS), "info", "least severe level logged", choices=LOG_LEVELS
)
LOG_FORMAT = Option(
    "--log-format",
    one_of(LOG_FORMATS),
    "text",
    "text for people, json: one object a line",
    choices=LOG_FORMATS,
)
LOG_OPTIONS = (LOG_LEVEL, LOG_FORMAT)


@dataclass(frozen=True, kw_only=True)
class SourceSettings:
    """Where the table comes from: the mesh file, and which cluster this server runs in."""

    config: Path | None = setting(CONFIG)
    mesh: Path | None = setting(MESH)
    local_cluster: str | None = setting(LOCAL_CLUSTER)


@dataclass(frozen=True, kw_only=True)
class AnswerSettings:
    """What the zone's answers look like (`--zone`, `--ttl`, the apex)."""

    zone: str = setting(ZONE)
    ttl: int = setting(TTL)
    max_answers: int | None = setting(MAX_ANSWERS)
    nameserver: str | None = setting(NAMESERVER)
    cluster_domain: str = setting(CLUSTER_DOMAIN)
    default_addresses: tuple[str, ...] = setting(DEFAULT_ADDRESS)

    def apex_name(self, environ: Mapping[str, str] = os.environ) -> str:
        """The apex NS and SOA MNAME: `--nameserver`, else this server's Service name in the
        pod's namespace and the cluster's domain, `globaldns.<namespace>.svc.<cluster-domain>`."""
        if self.nameserver:
            return self.nameserver
        return f"globaldns.{pod_namespace(environ)}.svc.{self.cluster_domain}"


@dataclass(frozen=True, kw_only=True)
class LogSettings:
    level: str = setting(LOG_LEVEL)
    format: str = setting(LOG_FORMAT)
