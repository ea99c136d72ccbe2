"""Settings from flags, environment and a config file, with one precedence, checked at start.

Precedence, strongest first: command-line flag, environment variable `GLOBALDNS_<FLAG>`,
config file (`--config`, YAML, keys in camelCase), the mesh file's own `zone`/`ttl`/
`localCluster`, then the defaults. Every option is declared once in `OPTIONS`; argparse, the
environment and the config file are all derived from that list.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from globaldns.errors import GlobalDnsError
from globaldns.server.rrl import RrlSettings
from globaldns.server.tcp import TcpLimits

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml: the same, 5-10x slower
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

ENV_PREFIX = "GLOBALDNS_"
MAX_TTL = 2**31 - 1  # RFC 2181 §8: a TTL above this is read as 0
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


class ConfigError(GlobalDnsError, ValueError):
    """A setting is invalid; the message names the setting, where it came from, and the fix."""


def host_port_text(host: str, port: int) -> str:
    """`HOST:PORT` as `host_port` reads it back: an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_port(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT` or `:PORT` (all addresses)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:5353 or [::1]:53)")
    host = host.strip("[]") or "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"{host!r} in {value!r} is not an IP address") from None
    return host, int(port)


def seconds(value: str | int | float) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(f"{value!r} must be >= 0 seconds")
    return number


def whole(value: str | int) -> int:
    if isinstance(value, bool) or not str(value).strip().isdigit():
        raise ValueError(f"{value!r} is not a whole number >= 0")
    return int(value)


def ttl(value: str | int) -> int:
    number = whole(value)
    if number > MAX_TTL:
        raise ValueError(f"{number} is above the largest TTL, {MAX_TTL} seconds (RFC 2181)")
    return number


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if str(value).lower() not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value).lower()

    return parse


def positive(value: str | int) -> int:
    number = whole(value)
    if number == 0:
        raise ValueError("must be at least 1")
    return number


def prefix_length(bits: int) -> Callable[[str | int], int]:
    """A network prefix length of an address `bits` long, at least 8 (one network per /0 would
    let one client's flood limit everybody)."""

    def parse(value: str | int) -> int:
        number = whole(value)
        if not 8 <= number <= bits:
            raise ValueError(f"{number} is not a prefix length from 8 to {bits}")
        return number

    return parse


IPV4_PREFIX = prefix_length(32)
IPV6_PREFIX = prefix_length(128)


def zone_name(value: str) -> str:
    name = str(value).strip(".").lower()
    if not name or any(not part or len(part) > 63 for part in name.split(".")):
        raise ValueError(f"{value!r} is not a DNS zone name such as 'global'")
    return name


def dns_name(value: str) -> str:
    """A host name as DNS carries it (RFC 1123 letters, digits, hyphens), without the final dot."""
    name = str(value).strip().rstrip(".").lower()
    labels = name.split(".")
    if (
        not name
        or len(name) > 253  # 255 in wire form
        or any(
            not 0 < len(label) < 64
            or not label.replace("-", "").isalnum()
            or not label.isascii()
            or label.startswith("-")
            or label.endswith("-")
            for label in labels
        )
    ):
        raise ValueError(f"{value!r} is not a DNS host name such as ns1.example.org")
    return name


# Where a pod finds its own namespace (Kubernetes mounts it with the service-account token).
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
NAMESPACE_ENV = "POD_NAMESPACE"
DEFAULT_NAMESPACE = "globaldns"


def pod_namespace(
    environ: Mapping[str, str] = os.environ, file: Path = SERVICE_ACCOUNT_NAMESPACE
) -> str:
    """The namespace this server runs in: `POD_NAMESPACE` (the downward API, or set by hand),
    else the service-account file, else `globaldns` (the manifests' namespace)."""
    origin, value = f"environment {NAMESPACE_ENV}", environ.get(NAMESPACE_ENV, "")
    if not value:
        try:
            origin, value = str(file), file.read_text(encoding="ascii", errors="replace")
        except OSError:
            return DEFAULT_NAMESPACE
    try:
        namespace = dns_name(value)
    except ValueError as err:
        raise ConfigError(f"{origin}: the namespace {err}") from None
    if "." in namespace:
        raise ConfigError(f"{origin}: {value.strip()!r} is not a Kubernetes namespace")
    return namespace


def nameserver(settings: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str:
    """The apex NS and SOA MNAME: `--nameserver`, else this server's Service name in the pod's
    namespace and the cluster's domain, `globaldns.<namespace>.svc.<cluster-domain>`."""
    if settings["nameserver"]:
        return str(settings["nameserver"])
    return f"globaldns.{pod_namespace(environ)}.svc.{settings['cluster_domain']}"


def server_id(value: str) -> str:
    """What names this replica in CH TXT and NSID: printable ASCII, at most 255 bytes (one
    TXT character-string)."""
    text = str(value).strip()
    if not 0 < len(text) <= 255 or not text.isascii() or not text.isprintable():
        raise ValueError(f"{value!r} is not 1 to 255 printable ASCII characters, e.g. a pod name")
    return text


def identity(settings: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str:
    """This replica's name: `--server-id`, else the pod's name (`HOSTNAME`), else the host's."""
    if settings.get("server_id"):
        return str(settings["server_id"])
    try:
        return server_id(environ.get("HOSTNAME") or socket.gethostname())
    except ValueError as err:
        raise ConfigError(f"environment HOSTNAME: {err}; give --server-id") from None


def flag(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not true or false")


def network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An address or a network in CIDR form (`10.0.0.0/8`, `::1`), with no host bits set."""
    try:
        return ipaddress.ip_network(str(value).strip())
    except ValueError as err:
        raise ValueError(
            f"{value!r} is not a network such as 10.0.0.0/8 or ::1/128: {err}"
        ) from None


def address(value: str) -> str:
    """One IPv4 or IPv6 address, canonical."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None


def one_per_family(addresses: tuple[str, ...]) -> tuple[str, ...]:
    """At most one IPv4 and one IPv6 address: an answer's A and its AAAA."""
    versions = [ipaddress.ip_address(a).version for a in addresses]
    for version in (4, 6):
        if versions.count(version) > 1:
            raise ValueError(f"give at most one IPv{version} address, not {list(addresses)}")
    return addresses


def path(value: str) -> Path:
    return Path(value).expanduser()


def text(value: str) -> str:
    return str(value)


@dataclass(frozen=True)
class Option:
    """One setting: its flag, its config-file key, how to read it, and its default.

    `metavar` says the value's form in `--help` (`HOST:PORT`, `SECONDS`); `choices`, when set,
    are the only values argparse accepts (the environment and the file go through `parse`).
    """

    flag: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    repeatable: bool = False
    switch: bool = False
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    # For a repeatable option: checks (or refuses) the values together.
    together: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()

    @property
    def key(self) -> str:
        head, *rest = self.dest.split("_")
        return head + "".join(part.capitalize() for part in rest)

    def shown_default(self) -> str:
        """The default as a user would type it."""
        values = self.default if self.repeatable else (self.default,)
        if self.switch:
            return "on" if self.default else "off"
        if self.default in (None, "") or not values:
            return "none"
        return ",".join(_shown(value) for value in values)


def _shown(value: Any) -> str:
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        return host_port_text(*value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# Where the table comes from (each command's `--config` is the file a pod runs with).
SOURCE_FILE_OPTIONS = (
    Option("--config", path, None, "YAML config file (keys are the flags in camelCase)"),
    Option("--mesh", path, None, "static mesh file (YAML); re-read when it changes"),
    Option("--local-cluster", text, None, "name of the cluster this server runs in"),
)
KUBECONFIG_OPTIONS = (
    Option(
        "--kubeconfig",
        path,
        None,
        "kubeconfig whose contexts are the mesh's clusters",
    ),
    Option(
        "--context",
        text,
        (),
        "kubeconfig context to use (repeatable; all when none is given)",
        repeatable=True,
    ),
)
ANSWER_OPTIONS = (
    Option("--zone", zone_name, "global", "zone served"),
    Option("--ttl", ttl, 5, "TTL of answers and of negative answers (SOA minimum)"),
    Option("--max-answers", positive, None, "cap on records of one type in an answer"),
    Option(
        "--nameserver",
        dns_name,
        None,
        "apex NS and SOA MNAME (none: globaldns.<pod namespace>.svc.<cluster domain>)",
    ),
    Option("--cluster-domain", dns_name, "cluster.local", "the cluster's DNS domain"),
    Option(
        "--default-address",
        address,
        (),
        "what a ServiceEntry without addresses answers, as istiocoredns's flag (repeatable: "
        "one IPv4, one IPv6; none: such entries are not named)",
        repeatable=True,
        together=one_per_family,
    ),
)
LOG_OPTIONS = (
    Option(
        "--log-level", one_of(LOG_LEVELS), "info", "least severe level logged", choices=LOG_LEVELS
    ),
    Option(
        "--log-format",
        one_of(LOG_FORMATS),
        "text",
        "text for people, json: one object a line",
        choices=LOG_FORMATS,
    ),
)

SERVER_OPTIONS = (
    Option(
        "--listen",
        host_port,
        (("0.0.0.0", 53),),
        "DNS address, UDP and TCP (repeatable: one pair of sockets each)",
        repeatable=True,
    ),
    Option(
        "--admin",
        host_port,
        ("0.0.0.0", 9153),
        "HTTP address of /metrics /health /ready /table",
    ),
    Option(
        "--tcp-idle-timeout",
        seconds,
        TcpLimits.idle,
        "a TCP connection that completes no message for this long is closed",
    ),
    Option(
        "--tcp-max-connections",
        positive,
        TcpLimits.connections,
        "concurrent TCP connections accepted, from all clients",
    ),
    Option(
        "--tcp-max-connections-per-address",
        positive,
        TcpLimits.per_address,
        "concurrent TCP connections accepted from one client address",
    ),
    Option(
        "--server-id",
        server_id,
        None,
        "what CH TXT id.server and hostname.bind, NSID and /table name this replica "
        "(none: the pod name, HOSTNAME)",
    ),
    Option(
        "--hide-identity",
        flag,
        False,
        "refuse id.server and hostname.bind and send no NSID (NSD's hide-identity)",
        switch=True,
    ),
    Option(
        "--hide-version",
        flag,
        False,
        "refuse version.bind and version.server (NSD's hide-version)",
        switch=True,
    ),
    Option(
        "--rrl-rate",
        whole,
        RrlSettings.rate,
        "response-rate limiting: UDP replies a second per source network and answer "
        "(0: off; on, the pure-Python UDP loop serves)",
    ),
    Option(
        "--rrl-slip",
        whole,
        RrlSettings.slip,
        "every Nth limited reply is sent truncated (TC) rather than dropped (0: none)",
    ),
    Option(
        "--rrl-ipv4-prefix",
        IPV4_PREFIX,
        RrlSettings.ipv4_prefix,
        "the IPv4 source network a client counts in",
        metavar="BITS",
    ),
    Option(
        "--rrl-ipv6-prefix",
        IPV6_PREFIX,
        RrlSettings.ipv6_prefix,
        "the IPv6 source network a client counts in",
        metavar="BITS",
    ),
    Option(
        "--table-from",
        network,
        (network("127.0.0.0/8"), network("::1/128")),
        "networks whose peers /table answers (it lists the whole mesh; kubectl port-forward "
        "comes from loopback); 0.0.0.0/0,::/0 for every peer (repeatable)",
        repeatable=True,
    ),
    Option(
        "--lameduck",
        seconds,
        0.0,
        "on SIGTERM, /ready fails at once and DNS answers this long before exiting",
    ),
)
KEEP_WIRED = Option(
    "--keep-wired", flag, False, "put the CoreDNS global block back if removed", switch=True
)

# Keys of every flag some command declared: a config file may hold them all (the pod's file
# serves `table` too), but a key no command knows is a typo.
_DECLARED_KEYS: set[str] = set()


def add_options(
    parser: argparse.ArgumentParser, options: Sequence[Option], title: str | None = None
) -> None:
    """Flags default to None so that an unset flag lets the environment or file decide."""
    target: argparse.ArgumentParser | argparse._ArgumentGroup = (
        parser.add_argument_group(title) if title else parser
    )
    for option in options:
        _DECLARED_KEYS.add(option.key)
        help_text = f"{option.help} (default: {option.shown_default()}; env {option.env})"
        help_text = help_text.replace("%", "%%")
        if option.switch:
            target.add_argument(option.flag, action="store_true", default=None, help=help_text)
        else:
            target.add_argument(
                option.flag,
                action="append" if option.repeatable else "store",
                default=None,
                help=help_text,
                metavar=None if option.choices else option.metavar or _metavar(option.parse),
                choices=option.choices,
            )


def _metavar(parse: Callable[[Any], Any]) -> str | None:
    """The form a value takes, from how it is read (`--serve-stale SECONDS`)."""
    forms: dict[Callable[[Any], Any], str] = {
        seconds: "SECONDS",
        whole: "N",
        positive: "N",
        ttl: "SECONDS",
        path: "FILE",
        host_port: "HOST:PORT",
        zone_name: "NAME",
        dns_name: "NAME",
        server_id: "NAME",
        text: "NAME",
        network: "CIDR",
        address: "IP",
    }
    return forms.get(parse)


def resolve(
    args: argparse.Namespace,
    options: Sequence[Option],
    environ: Mapping[str, str] = os.environ,
    mesh_defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge flags, environment, config file, mesh defaults and defaults; validate each value."""
    config_path = getattr(args, "config", None) or environ.get(ENV_PREFIX + "CONFIG")
    file_values = load_file(path(config_path)) if config_path else {}
    known = {option.key for option in options} | _DECLARED_KEYS
    unknown = sorted(set(file_values) - known - {"kubernetes"})
    if unknown:
        raise ConfigError(f"{config_path}: unknown key(s) {unknown}; known: {sorted(known)}")
    settings: dict[str, Any] = {"kubernetes": file_values.get("kubernetes") or {}}
    for option in options:
        candidates = (
            ("flag " + option.flag, getattr(args, option.dest, None)),
            ("environment " + option.env, environ.get(option.env)),
            (f"{config_path}: {option.key}", file_values.get(option.key)),
            (f"the mesh file's {option.key}", (mesh_defaults or {}).get(option.key)),
        )
        value = option.default
        for origin, raw in candidates:
            if raw is None:
                continue
            try:
                value = _parse(option, raw)
            except (ValueError, TypeError) as err:
                raise ConfigError(f"{origin}: {err}") from err
            break
        settings[option.dest] = value
    return settings


def _parse(option: Option, raw: Any) -> Any:
    if option.repeatable:
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        values = tuple(option.parse(item) for item in items if str(item).strip())
        return option.together(values) if option.together else values
    return option.parse(raw)


def load_file(file: Path) -> dict[str, Any]:
    doc = read_yaml(file, "config file")
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{file}: must be a mapping of settings, not {type(doc).__name__}")
    return doc


class StrictLoader(_SafeLoader):
    """Safe YAML (libyaml's parser when present) that rejects a key given twice in a mapping.

    Plain PyYAML keeps the last of two equal keys, so a pasted block silently replaces another.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            key = (key_node.tag, key_node.value)
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key_node.value!r} appears twice (first on line {first_line[key]}); "
                    "keep one",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml(file: Path, what: str, error: type[GlobalDnsError] = ConfigError) -> Any:
    """A YAML file's document; any problem is one line naming the file, where, and the fix."""
    return yaml_document(read_bytes(file, what, error), str(file), what, error)


def read_bytes(file: Path, what: str, error: type[GlobalDnsError]) -> bytes:
    try:
        return file.read_bytes()
    except OSError as err:
        raise error(f"{file}: cannot read the {what}: {err.strerror}") from None


def yaml_document(data: bytes, where: str, what: str, error: type[GlobalDnsError]) -> Any:
    """The document of YAML bytes read from `where`, or `error` saying where and what is wrong."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(
            f"{where}: the {what} is not UTF-8 text (at byte {err.start}); save it as UTF-8"
        ) from None
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        raise error(f"{where}: the {what} is not valid YAML: {yaml_problem(err)}") from None
    finally:
        loader.dispose()
    free_gradually(node)
    return document


def free_gradually(tree: Any) -> None:
    """Take a large tree of containers apart one container at a time.

    Dropping the root of a big document frees every object below it in one C-level cascade
    that never lets go of the GIL (100 ms at 20,000 services, all of it a DNS stall while a
    worker thread reloads); here Python runs between the pieces, so the serving loop gets turns.
    """
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
            item.clear()
        elif isinstance(item, list):
            stack.extend(item)
            item.clear()
        elif isinstance(item, tuple):
            stack.extend(item)
        elif isinstance(item, yaml.Node):
            stack.append(item.value)
            item.value = None


def yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's message in one line: where, then what."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        mark = err.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {err.problem}"
    return " ".join(str(err).split())
