"""Wiring through AKS's `kube-system/coredns-custom` ConfigMap instead of the managed Corefile.

AKS rewrites `kube-system/coredns` on upgrades but imports every `*.server` key of
`coredns-custom` as extra server blocks (`import custom/*.server`), so our block lives there
under its own key and nothing of the user's keys is touched.
"""

from __future__ import annotations

from globaldns.install.corefile import DNS_PORT, fqdn
from globaldns.install.wiring import DEFAULT_CACHE_TTL, Style, forward_target, render_block

CUSTOM_CONFIGMAP = "coredns-custom"


def server_key(zone: str = "global") -> str:
    """The data key our block is stored under, e.g. ``global.server``."""
    return f"{fqdn(zone).removesuffix('.')}.server"


def server_content(address: str | None, zone: str = "global", ttl: int = DEFAULT_CACHE_TTL) -> str:
    """The server block AKS's CoreDNS imports, forwarding `zone` to globaldns at `address`."""
    style = Style(eol="\n", indent="    ")
    return "\n".join(render_block(zone, DNS_PORT, forward_target(address), ttl, style)) + "\n"


def wire_custom(
    data: dict[str, str], address: str | None, zone: str = "global", ttl: int = DEFAULT_CACHE_TTL
) -> dict[str, str]:
    """`coredns-custom` data with our block set; equal to `data` when it already is."""
    return {**data, server_key(zone): server_content(address, zone, ttl)}


def unwire_custom(data: dict[str, str], zone: str = "global") -> dict[str, str]:
    """`coredns-custom` data without our key; every other key as it was."""
    return {key: value for key, value in data.items() if key != server_key(zone)}
