"""Kubernetes API clients per cluster, from a kubeconfig context, a remote Secret or the pod,
and the log filter that keeps their credentials out of every log line.

Clients are made by kubernetes_asyncio's own config loaders, so whatever auth a kubeconfig
uses there (tokens, client certificates, exec plugins, OIDC) works unchanged: the operator's own
kubeconfig is trusted as given, and a remote Secret's only once `remote_kubeconfig` accepted it.
Each client reads the environment's proxy settings once, when it is made (`_settled`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp.helpers import get_env_proxy_for_url
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration
from yarl import URL

from globaldns.errors import GlobalDnsError
from globaldns.sources.kubernetes.remote_kubeconfig import Accepted

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

    def redact(self, text: str) -> str:
        """`text` with every known credential replaced (error strings shown in `/table`)."""
        with self._lock:
            secrets = tuple(self._secrets)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            # Formatted now, so that it is redacted too; formatters print `exc_text` when set,
            # and `exc_info` stays for every other handler of the record (a test's caplog).
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        message, exc_text = record.getMessage(), record.exc_text or ""
        redacted, redacted_exc = self.redact(message), self.redact(exc_text)
        if (redacted, redacted_exc) != (message, exc_text):
            record.msg, record.args, record.exc_text = redacted, None, redacted_exc or None
        return True

    def install(self) -> None:
        for handler in logging.getLogger().handlers:
            if self not in handler.filters:
                handler.addFilter(self)


CREDENTIALS = CredentialFilter()


def guard_logs() -> None:
    """Credentials out of every log line, and the client library's own lines (request and
    response bodies at debug) out of the logs: in each process that makes a client."""
    CREDENTIALS.install()
    logging.getLogger("kubernetes_asyncio").setLevel(logging.WARNING)


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
            return _settled(await config.new_client_from_config_dict(document, context=context))
        except (config.ConfigException, ValueError, KeyError, TypeError) as err:
            raise KubeconfigError(f"context {context}: {type(err).__name__}: {err}") from None

    return make


def from_remote_secret(accepted: Accepted) -> MakeClient:
    """A remote Secret's kubeconfig, once the allowlist accepted it; its current context is the
    cluster."""
    CREDENTIALS.add(credentials_in(accepted.document))
    return from_kubeconfig(accepted.document, None)


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
        return _settled(ApiClient(configuration=configuration))

    return make


# kubernetes_asyncio's read buffer for its session: a watch event may carry a large object.
_READ_BUFSIZE = 2**21


def _settled(client: ApiClient) -> ApiClient:
    """The client with its proxy taken from the environment once, not on every request.

    kubernetes_asyncio always makes its aiohttp session with `trust_env`, which looks up
    ~/.netrc and the proxy variables in a thread on each request: a quarter of the watch
    process's CPU in a first sync of 200 clusters. A Kubernetes client's credentials are its
    kubeconfig's alone, as client-go's are (a netrc entry for the API's host made every request
    fail: aiohttp refuses its Basic auth beside a bearer token). HTTPS_PROXY and NO_PROXY still
    apply, read here for the API's URL, unless the kubeconfig names a proxy itself."""
    rest = client.rest_client
    if not rest.proxy:
        with contextlib.suppress(LookupError):  # no proxy for this URL
            proxy, auth = get_env_proxy_for_url(URL(client.configuration.host or ""))
            rest.proxy = str(proxy)
            if auth is not None:
                rest.proxy_headers = {aiohttp.hdrs.PROXY_AUTHORIZATION: auth.encode()}
    made = rest.pool_manager
    rest.pool_manager = aiohttp.ClientSession(
        connector=made.connector, trust_env=False, read_bufsize=_READ_BUFSIZE
    )
    made.detach()  # the connector is the new session's to close
    return client
