"""Kubernetes API clients per cluster, from a kubeconfig context, a remote Secret or the pod,
and the log filter that keeps their credentials out of every log line.

Clients are made by kubernetes_asyncio's own config loaders, so whatever auth a kubeconfig
uses there (tokens, client certificates, exec plugins, OIDC) works unchanged.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration

from globaldns.errors import GlobalDnsError

MakeClient = Callable[[], Awaitable[ApiClient]]
REDACTED = "<redacted>"
_MIN_SECRET = 8  # shorter strings (e.g. "true") would redact ordinary words


class KubeconfigError(GlobalDnsError, ValueError):
    """A kubeconfig or remote Secret cannot be used; the message says which and why."""


class CredentialFilter(logging.Filter):
    """Rewrites any log record that contains a known credential. Installed on root handlers."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secrets: Iterator[str]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if len(s) >= _MIN_SECRET)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = tuple(self._secrets)
        if record.exc_info:  # format the traceback now, so that it is redacted too
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        message, exc_text = record.getMessage(), record.exc_text or ""
        if any(s in message or s in exc_text for s in secrets):
            for secret in secrets:
                message = message.replace(secret, REDACTED)
                exc_text = exc_text.replace(secret, REDACTED)
            record.msg, record.args, record.exc_text = message, None, exc_text or None
        return True

    def install(self) -> None:
        for handler in logging.getLogger().handlers:
            if self not in handler.filters:
                handler.addFilter(self)


CREDENTIALS = CredentialFilter()


def credentials_in(document: dict[str, Any]) -> Iterator[str]:
    """Every string under a kubeconfig's `users`, and its decoded form when base64."""
    for user in document.get("users") or ():
        yield from _strings((user or {}).get("user"))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        if value.startswith("Bearer "):
            yield value[len("Bearer ") :]
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


KUBECONFIG_FIX = "give --kubeconfig PATH of a kubeconfig with a context per cluster"


def load_kubeconfig(path: Path) -> dict[str, Any]:
    """The kubeconfig as a mapping; a file that is not one says why and how to fix it."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as err:
        why = f"cannot read the kubeconfig: {err.strerror}"
    except UnicodeDecodeError:
        why = "the kubeconfig is not UTF-8 text"
    except yaml.YAMLError:
        why = "the kubeconfig is not valid YAML"
    else:
        if isinstance(document, dict):
            CREDENTIALS.add(credentials_in(document))
            return document
        why = "the kubeconfig is not a mapping"
    raise KubeconfigError(f"{path}: {why}; {KUBECONFIG_FIX}")


def contexts(document: dict[str, Any], wanted: tuple[str, ...], where: str) -> list[str]:
    """The context names to watch: `wanted`, checked, or every context in the file."""
    entries = document.get("contexts") or []
    if not isinstance(entries, list):
        raise KubeconfigError(f"{where}: `contexts` is not a list; {KUBECONFIG_FIX}")
    names: list[str] = [c["name"] for c in entries if isinstance(c, dict) and c.get("name")]
    missing = [w for w in wanted if w not in names]
    if missing:
        raise KubeconfigError(f"{where}: no context(s) {missing}; the file has {names}")
    return list(wanted) if wanted else names


def from_kubeconfig(document: dict[str, Any], context: str | None) -> MakeClient:
    async def make() -> ApiClient:
        try:
            return await config.new_client_from_config_dict(document, context=context)
        except (config.ConfigException, ValueError, KeyError, TypeError) as err:
            raise KubeconfigError(f"context {context}: {type(err).__name__}: {err}") from None

    return make


def from_remote_secret(encoded: str, where: str) -> MakeClient:
    """A Secret data value: base64 of a kubeconfig; its current context is the cluster."""
    try:
        document = yaml.safe_load(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError, yaml.YAMLError):
        raise KubeconfigError(f"{where}: the value is not a base64 kubeconfig") from None
    if not isinstance(document, dict):
        raise KubeconfigError(f"{where}: the value is not a kubeconfig")
    CREDENTIALS.add(credentials_in(document))
    return from_kubeconfig(document, None)


def in_cluster() -> MakeClient:
    async def make() -> ApiClient:
        configuration = Configuration()
        config.load_incluster_config(  # type: ignore[no-untyped-call]  # untyped library
            client_configuration=configuration
        )
        token = configuration.api_key.get("BearerToken") or configuration.api_key.get(
            "authorization", ""
        )
        CREDENTIALS.add(_strings(token))
        return ApiClient(configuration=configuration)

    return make
