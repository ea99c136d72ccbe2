"""Who may call a cluster: its admin token, and the tokens its token controller issued.

As in Kubernetes, a Secret of type `kubernetes.io/service-account-token` that names an existing
ServiceAccount (annotation `kubernetes.io/service-account.name`) is filled, right after it is
created, with `token`, `ca.crt` and `namespace`; that token then authenticates until the Secret
is deleted. Every bearer token presented is remembered (as a digest only), so a test can show
that a credential never reached the cluster.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .resources import ResourceType
    from .store import ClusterStore, Event

TOKEN_TYPE = "kubernetes.io/service-account-token"
ACCOUNT_ANNOTATION = "kubernetes.io/service-account.name"
MAX_SEEN = 10_000  # digests kept of presented tokens


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Tokens:
    def __init__(self, admin: str, ca_pem: bytes, secrets_type: ResourceType) -> None:
        self.admin = admin
        self.secrets = secrets_type
        self.ca_pem = ca_pem
        self.issued: dict[tuple[str, str], str] = {}  # (namespace, Secret name) -> token
        self.seen: set[bytes] = set()

    def authenticates(self, token: str) -> bool:
        if len(self.seen) < MAX_SEEN:
            self.seen.add(_digest(token))
        known = [self.admin, *self.issued.values()]
        return any(secrets.compare_digest(token, each) for each in known)

    def was_presented(self, token: str) -> bool:
        return _digest(token) in self.seen

    def observe(self, store: ClusterStore, event: Event) -> None:
        """The token controller, told of every committed write: fill a new service-account-token
        Secret of an existing account; forget a deleted one's token."""
        if event.storage != self.secrets.storage:
            return
        meta = event.new["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if event.type == "DELETED":
            self.issued.pop(key, None)
            return
        account = (meta.get("annotations") or {}).get(ACCOUNT_ANNOTATION)
        if event.new.get("type") != TOKEN_TYPE or key in self.issued or not account:
            return
        if (key[0], account) not in store.objects.get(("", "serviceaccounts"), {}):
            return
        token = secrets.token_urlsafe(32)
        self.issued[key] = token
        data = {"token": token.encode(), "ca.crt": self.ca_pem, "namespace": key[0].encode()}
        filled = {**event.new, "metadata": dict(meta)}
        filled["data"] = {k: base64.b64encode(v).decode() for k, v in data.items()}
        store.update(self.secrets, filled, check_version=False)
