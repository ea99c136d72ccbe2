"""Remote kubeconfigs (the Secrets that add clusters at run time), checked on an allowlist.

Whoever can create a labelled Secret in the watched namespace writes the kubeconfig globaldns
connects with. So the decoded document is checked here, field by field, before any client
object exists: a plain API connection needs only `server`, `certificate-authority-data` and
`tls-server-name` for the cluster, and `token` or `client-certificate-data`/`client-key-data`
for the user. A field that runs a command (`exec`, `auth-provider`), reads a local file
(`tokenFile`, `certificate-authority`, `client-certificate`, `client-key`), sends other
credentials (`username`/`password`), reroutes (`proxy-url`), impersonates (`as`...) or turns
TLS checking off is refused unless the operator allows that option (`Allow`); a field this
module does not know is always refused. Pure: no I/O, no client library.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from globaldns.errors import GlobalDnsError

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

MAX_ENCODED = 1024 * 1024  # the API server's limit on a whole Secret
_SHOWN = 40  # characters of a field name (chosen by whoever wrote the Secret) put in a message


class Allow(StrEnum):
    """An option the operator may allow in remote kubeconfigs (`--allow-remote-kubeconfig`)."""

    EXEC = "exec"  # users[].user.exec: runs a command in the pod
    AUTH_PROVIDER = "auth-provider"  # users[].user.auth-provider: gcp/oidc plugins
    TOKEN_FILE = "token-file"  # users[].user.tokenFile: reads a local file
    BASIC_AUTH = "basic-auth"  # users[].user.username/password
    FILES = "files"  # certificate-authority, client-certificate, client-key: local files
    INSECURE_SKIP_TLS_VERIFY = "insecure-skip-tls-verify"  # TLS checking off (logged)
    PROXY_URL = "proxy-url"  # clusters[].cluster.proxy-url
    IMPERSONATE = "impersonate"  # users[].user.as, as-uid, as-groups, as-user-extra


class Refusal(StrEnum):
    """Why a document is refused when no option could allow it."""

    UNKNOWN_FIELD = "unknown-field"
    MALFORMED = "malformed"


Reason = Allow | Refusal
REASONS: tuple[Reason, ...] = (*Allow, *Refusal)


class RemoteKubeconfigRefused(GlobalDnsError, ValueError):
    """A remote kubeconfig carries what the allowlist refuses; `field` names where it is."""

    def __init__(self, field: str, reason: Reason, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Accepted:
    """A remote kubeconfig that passed: the document, its cluster's entry name, and whether TLS
    checking is off (allowed, and to be warned about)."""

    document: dict[str, Any]
    cluster: str
    insecure: bool


PLAIN = None  # a field every remote kubeconfig may carry
_TOP = {"apiVersion", "kind", "preferences", "clusters", "users", "contexts", "current-context"}
_CLUSTER: dict[str, Allow | None] = {
    "server": PLAIN,
    "certificate-authority-data": PLAIN,
    "tls-server-name": PLAIN,
    "certificate-authority": Allow.FILES,
    "insecure-skip-tls-verify": Allow.INSECURE_SKIP_TLS_VERIFY,
    "proxy-url": Allow.PROXY_URL,
}
_USER: dict[str, Allow | None] = {
    "token": PLAIN,
    "client-certificate-data": PLAIN,
    "client-key-data": PLAIN,
    "tokenFile": Allow.TOKEN_FILE,
    "client-certificate": Allow.FILES,
    "client-key": Allow.FILES,
    "username": Allow.BASIC_AUTH,
    "password": Allow.BASIC_AUTH,
    "exec": Allow.EXEC,
    "auth-provider": Allow.AUTH_PROVIDER,
    "as": Allow.IMPERSONATE,
    "as-uid": Allow.IMPERSONATE,
    "as-groups": Allow.IMPERSONATE,
    "as-user-extra": Allow.IMPERSONATE,
}
_CONTEXT: dict[str, Allow | None] = {"cluster": PLAIN, "user": PLAIN, "namespace": PLAIN}
_BASE64 = {"certificate-authority-data", "client-certificate-data", "client-key-data"}
_SECTIONS = (("clusters", "cluster", _CLUSTER), ("users", "user", _USER))


def accept(encoded: str, allowed: Collection[Allow] = ()) -> Accepted:
    """A Secret's data value (base64 of a kubeconfig) checked; `RemoteKubeconfigRefused` else."""
    return check(decode(encoded), allowed)


def decode(encoded: str) -> Any:
    """The YAML document inside a Secret's base64 value."""
    if len(encoded) > MAX_ENCODED:
        raise RemoteKubeconfigRefused("value", Refusal.MALFORMED, "larger than a Secret can be")
    try:
        return yaml.load(base64.b64decode(encoded, validate=True), Loader=_SafeLoader)
    except (binascii.Error, ValueError, yaml.YAMLError, RecursionError):
        raise RemoteKubeconfigRefused(
            "value", Refusal.MALFORMED, "not base64 of a YAML kubeconfig"
        ) from None


def check(document: Any, allowed: Collection[Allow] = ()) -> Accepted:
    """The decoded kubeconfig on the allowlist, or `RemoteKubeconfigRefused` naming the field."""
    if not isinstance(document, dict):
        raise _malformed("kubeconfig", "not a mapping")
    _known(document, _TOP, "")
    entries = {
        section: _named(document, section, key, fields, allowed)
        for section, key, fields in _SECTIONS
    }
    contexts = _named(document, "contexts", "context", _CONTEXT, allowed)
    current = document.get("current-context")
    if not isinstance(current, str) or current not in contexts:
        raise _malformed("current-context", "does not name one of the contexts")
    context = contexts[current]
    cluster = context.get("cluster")
    if cluster not in entries["clusters"]:
        raise _malformed(f"contexts[{current!r:.{_SHOWN}}].cluster", "names no cluster entry")
    user = context.get("user")
    if user is not None and user not in entries["users"]:
        raise _malformed(f"contexts[{current!r:.{_SHOWN}}].user", "names no user entry")
    insecure = any(
        c.get("insecure-skip-tls-verify", False) is not False for c in entries["clusters"].values()
    )
    return Accepted(document, str(cluster), insecure)


def _named(
    document: dict[str, Any],
    section: str,
    key: str,
    fields: dict[str, Allow | None],
    allowed: Collection[Allow],
) -> dict[str, dict[str, Any]]:
    """A section's entries by name, each checked against its fields."""
    entries = document.get(section)
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise _malformed(section, "not a list")
    out: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        where = f"{section}[{index}]"
        if not isinstance(entry, dict):
            raise _malformed(where, "not a mapping")
        _known(entry, {"name", key}, f"{where}.")
        name, body = entry.get("name"), entry.get(key)
        if not isinstance(name, str) or not name or name in out:
            raise _malformed(f"{where}.name", "missing, not text, or used twice")
        if not isinstance(body, dict):
            raise _malformed(f"{where}.{key}", "not a mapping")
        for field, value in body.items():
            _field(f"{where}.{key}.", field, value, fields, allowed)
        out[name] = body
    return out


def _field(
    where: str, field: Any, value: Any, fields: dict[str, Allow | None], allowed: Collection[Allow]
) -> None:
    if not isinstance(field, str) or field not in fields:
        raise _unknown(where, field)
    option = fields[field]
    if field == "insecure-skip-tls-verify" and value is False:
        return  # TLS checking stays on
    if option is not None:
        if option not in allowed:
            raise RemoteKubeconfigRefused(
                f"{where}{field}",
                option,
                f"refused in remote kubeconfigs unless --allow-remote-kubeconfig {option.value}",
            )
        return
    if not isinstance(value, str):
        raise _malformed(f"{where}{field}", "not text")
    if field in _BASE64:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _malformed(f"{where}{field}", "not base64") from None


def _known(mapping: dict[Any, Any], fields: Collection[str], where: str) -> None:
    for field in mapping:
        if not isinstance(field, str) or field not in fields:
            raise _unknown(where, field)


def _unknown(where: str, field: Any) -> RemoteKubeconfigRefused:
    """The field's name comes from the Secret: shown quoted, on one line and bounded unless it
    is a plain word."""
    text = field if isinstance(field, str) else repr(field)
    plain = 0 < len(text) <= _SHOWN and all(
        c.isascii() and (c.isalnum() or c in "-_") for c in text
    )
    shown = text if plain else repr(text[:_SHOWN])
    return RemoteKubeconfigRefused(
        f"{where}{shown}", Refusal.UNKNOWN_FIELD, "not a field a remote kubeconfig may carry"
    )


def _malformed(field: str, why: str) -> RemoteKubeconfigRefused:
    return RemoteKubeconfigRefused(field, Refusal.MALFORMED, why)
