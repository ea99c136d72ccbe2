"""What `install` did to a cluster, kept in one annotation on the ConfigMap it wired.

`uninstall` reads it back to restore the edited keys' old values, delete exactly the objects
that were applied, and leave the ConfigMap's metadata as it found it. The old values are saved
by the first install only, so reinstalling never overwrites the original.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from globaldns.install.kube import Obj, Ref

ANNOTATION = "globaldns.io/install"


@dataclass(frozen=True)
class Record:
    """`previous`: each edited data key's value before install (None: absent)."""

    previous: dict[str, str | None]
    applied: tuple[Ref, ...]
    had_annotations: bool
    had_data: bool

    def to_json(self) -> str:
        return json.dumps(
            {
                "previous": self.previous,
                "applied": [
                    [ref.api_version, ref.kind, ref.namespace, ref.name] for ref in self.applied
                ],
                "hadAnnotations": self.had_annotations,
                "hadData": self.had_data,
            },
            sort_keys=True,
        )


def read(configmap: Obj | None) -> Record | None:
    """The record on this ConfigMap, or None if install never wired it."""
    annotations = ((configmap or {}).get("metadata") or {}).get("annotations") or {}
    if ANNOTATION not in annotations:
        return None
    doc: dict[str, Any] = json.loads(annotations[ANNOTATION])
    return Record(
        previous=doc["previous"],
        applied=tuple(Ref(*item) for item in doc["applied"]),
        had_annotations=doc["hadAnnotations"],
        had_data=doc["hadData"],
    )


def first(configmap: Obj, wired: dict[str, str], applied: tuple[Ref, ...]) -> Record:
    """The record of a first install: the ConfigMap as it is now is the original.

    Only the keys wiring changes (to `wired`) are saved.
    """
    data = configmap.get("data") or {}
    keys = sorted(key for key in {*data, *wired} if data.get(key) != wired.get(key))
    return Record(
        previous={key: data.get(key) for key in keys},
        applied=applied,
        had_annotations=bool(configmap["metadata"].get("annotations") or {}),
        had_data="data" in configmap,
    )


def with_record(configmap: Obj, data: dict[str, str], record: Record) -> Obj:
    """The ConfigMap with `data` and the record annotation set."""
    meta = dict(configmap["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), ANNOTATION: record.to_json()}
    return {**configmap, "metadata": meta, "data": data}


def without_record(configmap: Obj, data: dict[str, str], record: Record) -> Obj:
    """The ConfigMap with `data` and no record, its metadata shaped as before install."""
    meta = dict(configmap["metadata"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != ANNOTATION}
    if annotations or record.had_annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    restored: Obj = {**configmap, "metadata": meta}
    if data or record.had_data:
        restored["data"] = data
    else:
        restored.pop("data", None)
    return restored
