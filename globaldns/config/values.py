"""How one setting's text is read: each parser takes a flag's, a variable's or a YAML value and
returns the typed value, or raises ValueError saying what was expected (the caller adds where it
came from)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from globaldns.errors import GlobalDnsError

MAX_TTL = 2**31 - 1  # RFC 2181 §8: a TTL above this is read as 0


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


def server_id(value: str) -> str:
    """What names this replica in CH TXT and NSID: printable ASCII, at most 255 bytes (one
    TXT character-string)."""
    text = str(value).strip()
    if not 0 < len(text) <= 255 or not text.isascii() or not text.isprintable():
        raise ValueError(f"{value!r} is not 1 to 255 printable ASCII characters, e.g. a pod name")
    return text


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
