"""The remote-cluster Secrets of the local cluster, as a watch feed: each data key a cluster,
each value its kubeconfig (checked by `remote_kubeconfig` before any client is made)."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from globaldns.sources.kubernetes import slim
from globaldns.sources.kubernetes.cluster import SECRETS
from globaldns.sources.kubernetes.options import KubeSettings, Selection
from globaldns.sources.kubernetes.watch import Resource

log = logging.getLogger(__name__)


class RemoteSecrets:
    """The Feed of the Secrets watch: each data key a cluster, each value its kubeconfig."""

    def __init__(self, selection: Selection, settings: KubeSettings) -> None:
        self.resource = Resource(
            SECRETS,
            (f"/api/v1/namespaces/{settings.secret_namespace}/secrets",),
            partial(slim.strip_secret, selection=selection),
            label_selector=settings.secret_selector,
        )
        self.secrets: dict[str, dict[str, str]] = {}
        self.current = False
        self.changed = asyncio.Event()  # the source waits on it and reads `wanted()`
        self.duplicates: set[tuple[str, str]] = set()  # (cluster, ignored Secret), logged once
        self._error = ""

    def replace(self, kind: str, records: dict[str, Any]) -> None:
        self.secrets = dict(records)
        self.changed.set()

    def put(self, kind: str, key: str, record: Any) -> None:
        if record is None:
            self.secrets.pop(key, None)
        else:
            self.secrets[key] = record
        self.changed.set()

    def listed(self, kind: str) -> None:
        self.current = True
        self._error = ""

    def failed(self, kind: str, error: str, unreachable: bool) -> None:
        if error != self._error:
            log.warning("remote secrets: %s", error)
        self._error = error

    def wanted(self) -> dict[str, tuple[str, str]]:
        """Cluster ID -> (Secret it came from, base64 kubeconfig): where two Secrets name one
        cluster, the oldest wins and the other is logged once and counted."""
        out: dict[str, tuple[str, str]] = {}
        oldest_first = sorted(self.secrets, key=lambda key: (self.secrets[key][slim.CREATED], key))
        for key in oldest_first:
            for cluster, encoded in self.secrets[key].items():
                if cluster == slim.CREATED:
                    continue
                kept = out.setdefault(cluster, (key, encoded))[0]
                if kept != key and (cluster, key) not in self.duplicates:
                    self.duplicates.add((cluster, key))
                    log.warning(
                        "remote secrets: %s names cluster %s, which the older %s already names; "
                        "ignoring it (delete one of them)",
                        key,
                        cluster,
                        kept,
                        extra={"cluster": cluster},
                    )
        return out
