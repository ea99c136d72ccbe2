"""Every setting of `serve` and `table`, read once into one frozen `Settings`.

Each subsystem declares its options and its settings type next to its code (`config.common`
for the shared ones, `health.options`, `sources.kubernetes.options`, `install.watchdog`); the
DNS server's are here. `Settings` holds one of each; `app` hands each subsystem its own part,
and nothing below it sees a mapping. Which keys a config file may hold is one declared list,
the options of every command (`DECLARED_KEYS`).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from globaldns.config import ConfigError, Layers, Option, flag, host_port, seconds, setting
from globaldns.config.clusterset import CLUSTERSET_OPTIONS, ClustersetSettings
from globaldns.config.common import (
    ANSWER_OPTIONS,
    KUBECONFIG_OPTIONS,
    LOG_OPTIONS,
    SOURCE_FILE_OPTIONS,
    AnswerSettings,
    LogSettings,
    SourceSettings,
)
from globaldns.config.option import declared_keys, part, sections_of
from globaldns.config.values import IPV4_PREFIX, IPV6_PREFIX, network, positive, server_id, whole
from globaldns.health import HEALTH_OPTIONS, ProbeSettings
from globaldns.install import settings as install_settings
from globaldns.install.watchdog import KEEP_WIRED, WATCHDOG_OPTIONS, WatchdogSettings
from globaldns.server.rrl import RrlSettings
from globaldns.server.tcp import TcpLimits
from globaldns.sources import mesh as mesh_source
from globaldns.sources.kubernetes import KUBERNETES_OPTIONS, KubeSettings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LISTEN = Option(
    "--listen",
    host_port,
    (("0.0.0.0", 53),),
    "DNS address, UDP and TCP (repeatable: one pair of sockets each)",
    repeatable=True,
)
ADMIN = Option(
    "--admin", host_port, ("0.0.0.0", 9153), "HTTP address of /metrics /health /ready /table"
)
TCP_IDLE_TIMEOUT = Option(
    "--tcp-idle-timeout",
    seconds,
    TcpLimits.idle,
    "a TCP connection that completes no message for this long is closed",
)
TCP_MAX_CONNECTIONS = Option(
    "--tcp-max-connections",
    positive,
    TcpLimits.connections,
    "concurrent TCP connections accepted, from all clients",
)
TCP_MAX_CONNECTIONS_PER_ADDRESS = Option(
    "--tcp-max-connections-per-address",
    positive,
    TcpLimits.per_address,
    "concurrent TCP connections accepted from one client address",
)
SERVER_ID = Option(
    "--server-id",
    server_id,
    None,
    "what CH TXT id.server and hostname.bind, NSID and /table name this replica "
    "(none: the pod name, HOSTNAME)",
)
HIDE_IDENTITY = Option(
    "--hide-identity",
    flag,
    False,
    "refuse id.server and hostname.bind and send no NSID (NSD's hide-identity)",
    switch=True,
)
HIDE_VERSION = Option(
    "--hide-version",
    flag,
    False,
    "refuse version.bind and version.server (NSD's hide-version)",
    switch=True,
)
RRL_RATE = Option(
    "--rrl-rate",
    whole,
    RrlSettings.rate,
    "response-rate limiting: UDP replies a second per source network and answer "
    "(0: off; on, the pure-Python UDP loop serves)",
)
RRL_SLIP = Option(
    "--rrl-slip",
    whole,
    RrlSettings.slip,
    "every Nth limited reply is sent truncated (TC) rather than dropped (0: none)",
)
RRL_IPV4_PREFIX = Option(
    "--rrl-ipv4-prefix",
    IPV4_PREFIX,
    RrlSettings.ipv4_prefix,
    "the IPv4 source network a client counts in",
    metavar="BITS",
)
RRL_IPV6_PREFIX = Option(
    "--rrl-ipv6-prefix",
    IPV6_PREFIX,
    RrlSettings.ipv6_prefix,
    "the IPv6 source network a client counts in",
    metavar="BITS",
)
TABLE_FROM = Option(
    "--table-from",
    network,
    (network("127.0.0.0/8"), network("::1/128")),
    "networks whose peers /table answers (it lists the whole mesh; kubectl port-forward "
    "comes from loopback); 0.0.0.0/0,::/0 for every peer (repeatable)",
    repeatable=True,
)
LAMEDUCK = Option(
    "--lameduck",
    seconds,
    0.0,
    "on SIGTERM, /ready fails at once and DNS answers this long before exiting",
)
SERVER_OPTIONS = (LISTEN, ADMIN, TCP_IDLE_TIMEOUT, TCP_MAX_CONNECTIONS,
                  TCP_MAX_CONNECTIONS_PER_ADDRESS, SERVER_ID, HIDE_IDENTITY, HIDE_VERSION,
                  RRL_RATE, RRL_SLIP, RRL_IPV4_PREFIX, RRL_IPV6_PREFIX, TABLE_FROM,
                  LAMEDUCK)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """The DNS and admin servers: where they listen, their limits, and what names this one."""

    listen: tuple[tuple[str, int], ...] = setting(LISTEN)
    admin: tuple[str, int] = setting(ADMIN)
    tcp_idle_timeout: float = setting(TCP_IDLE_TIMEOUT)
    tcp_max_connections: int = setting(TCP_MAX_CONNECTIONS)
    tcp_max_connections_per_address: int = setting(TCP_MAX_CONNECTIONS_PER_ADDRESS)
    server_id: str | None = setting(SERVER_ID)
    hide_identity: bool = setting(HIDE_IDENTITY)
    hide_version: bool = setting(HIDE_VERSION)
    rrl_rate: int = setting(RRL_RATE)
    rrl_slip: int = setting(RRL_SLIP)
    rrl_ipv4_prefix: int = setting(RRL_IPV4_PREFIX)
    rrl_ipv6_prefix: int = setting(RRL_IPV6_PREFIX)
    table_from: tuple[Network, ...] = setting(TABLE_FROM)
    lameduck: float = setting(LAMEDUCK)

    @property
    def tcp(self) -> TcpLimits:
        return TcpLimits(
            idle=self.tcp_idle_timeout,
            connections=self.tcp_max_connections,
            per_address=self.tcp_max_connections_per_address,
        )

    @property
    def rrl(self) -> RrlSettings:
        return RrlSettings(
            rate=self.rrl_rate,
            slip=self.rrl_slip,
            ipv4_prefix=self.rrl_ipv4_prefix,
            ipv6_prefix=self.rrl_ipv6_prefix,
        )

    def identity(self, environ: Mapping[str, str] = os.environ) -> str:
        """This replica's name: `--server-id`, else the pod's name (`HOSTNAME`), else the
        host's."""
        if self.server_id:
            return self.server_id
        try:
            return server_id(environ.get("HOSTNAME") or socket.gethostname())
        except ValueError as err:
            raise ConfigError(f"environment HOSTNAME: {err}; give --server-id") from None


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything `serve` (or `table`, which reads fewer flags) was told, one part a subsystem."""

    sources: SourceSettings = part(SourceSettings)
    answers: AnswerSettings = part(AnswerSettings)
    clusterset: ClustersetSettings = part(ClustersetSettings)
    logs: LogSettings = part(LogSettings)
    server: ServerSettings = part(ServerSettings)
    kube: KubeSettings = part(KubeSettings)
    probes: ProbeSettings = part(ProbeSettings)
    wiring: WatchdogSettings = part(WatchdogSettings)


# Each command's flags, grouped as `--help` shows them.
TABLE_GROUPS: tuple[tuple[str, tuple[Option, ...]], ...] = (
    ("sources", SOURCE_FILE_OPTIONS),
    ("Kubernetes", KUBECONFIG_OPTIONS + KUBERNETES_OPTIONS),
    ("DNS answers", ANSWER_OPTIONS),
    ("Multi-Cluster Services (clusterset.local)", CLUSTERSET_OPTIONS),
    ("logging", LOG_OPTIONS),
)
SERVE_GROUPS = (
    *TABLE_GROUPS,
    ("DNS server", SERVER_OPTIONS),
    ("gateway probes", HEALTH_OPTIONS),
    ("CoreDNS wiring", (KEEP_WIRED, *WATCHDOG_OPTIONS)),
)
GROUPS = {"serve": SERVE_GROUPS, "table": TABLE_GROUPS}


def options_of(command: str) -> tuple[Option, ...]:
    """Every option a command reads, from its help groups."""
    if command in install_settings.COMMANDS:
        return install_settings.options_of(command)
    return tuple(option for _, group in GROUPS[command] for option in group)


# A config file may hold the keys of every command (the pod's file serves `table` and
# `install` too), and the `kubernetes:` section; any other key is a typo.
COMMANDS = (*GROUPS, *install_settings.COMMANDS)
DECLARED_KEYS = declared_keys(option for command in COMMANDS for option in options_of(command))
SECTIONS = sections_of(Settings)


def layers(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Layers:
    """The flags of `args.command`, the environment and the config file, read once."""
    return Layers.read(args, options_of(args.command), DECLARED_KEYS, SECTIONS, environ)


def with_mesh(given: Layers) -> tuple[Settings, mesh_source.Mesh | None]:
    """The settings above the mesh file's own defaults, and the mesh file, loaded once at
    start; a source is given, and a mesh-only server's local cluster is one of its clusters."""
    path = given.build(SourceSettings).mesh
    mesh, defaults = mesh_defaults(path)
    settings = given.with_mesh(defaults).build(Settings)
    check_sources(settings, mesh)
    check_zones(settings)
    return settings, mesh


def check_zones(settings: Settings) -> None:
    """The clusterset zone and `--zone` are apart: one inside the other would hide its names."""
    zone, clusterset = settings.answers.zone, settings.clusterset.zone
    if settings.clusterset.off:
        return
    if zone == clusterset or zone.endswith(f".{clusterset}") or clusterset.endswith(f".{zone}"):
        raise ConfigError(
            f"--zone {zone} and --clusterset-zone {clusterset} overlap: give zones apart, or "
            "--no-clusterset"
        )


def mesh_defaults(mesh_path: Path | None) -> tuple[mesh_source.Mesh | None, dict[str, Any]]:
    """Load the mesh file once at start: its zone/ttl/localCluster are defaults for settings."""
    if mesh_path is None:
        return None, {}
    try:
        mesh = mesh_source.load(mesh_path)
    except mesh_source.MeshError as err:
        raise ConfigError(str(err)) from err
    return mesh, {"zone": mesh.zone, "ttl": mesh.ttl, "localCluster": mesh.local_cluster}


def check_sources(settings: Settings, mesh: mesh_source.Mesh | None) -> None:
    """A source is given, and a local cluster of a mesh-only server is one of its clusters."""
    if mesh is None and not settings.kube.configured:
        raise ConfigError("no source: give --mesh FILE (see examples/mesh.yaml) or --kubeconfig")
    local = settings.sources.local_cluster
    if mesh is None or local is None or settings.kube.configured:
        return
    names = [cluster.name for cluster in mesh.clusters]
    if local not in names:
        raise ConfigError(
            f"local cluster {local!r} (--local-cluster, GLOBALDNS_LOCAL_CLUSTER or the config "
            f"file's localCluster) is not a cluster of {settings.sources.mesh}; it has: "
            f"{', '.join(names) or 'no clusters'}"
        )
