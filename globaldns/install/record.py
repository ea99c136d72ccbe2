"""What `install` did to a cluster, kept in one annotation on the ConfigMap it wired.

`uninstall` reads it back to restore the edited keys' old values and leave the ConfigMap's
metadata as it found it. The objects it lists are only reported: what uninstall deletes comes
from the manifests and the cluster's labels, never from this annotation, which anyone who can
edit the ConfigMap can write. The old values are saved
by the first install only, so reinstalling never overwrites the original.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from globaldns.errors import GlobalDnsError
from globaldns.install.kube import Obj, Ref

ANNOTATION = "globaldns.io/install"


class RecordError(GlobalDnsError, ValueError):
    """The annotation is not a record install wrote; nothing is restored or deleted from it."""


@dataclass(frozen=True)
class Record:
    """`previous`: each edited data key's value before install (None: absent)."""

    previous: dict[str, str | None]
    applied: tuple[Ref, ...]
    had_annotations: bool
    had_data: bool
    # Install created the object (k3s's optional coredns-custom, RKE2's HelmChartConfig):
    # uninstall deletes it again when nothing else was put in it.
    created: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "created": self.created,
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
    """The record on this ConfigMap, or None if install never wired it.

    Anyone who can edit the ConfigMap can write the annotation, so its shape is checked before
    anything is taken from it: `RecordError` names the ConfigMap and the fix.
    """
    metadata = (configmap or {}).get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    if ANNOTATION not in annotations:
        return None
    try:
        return _parse(annotations[ANNOTATION])
    except ValueError as err:
        where = f"{metadata.get('namespace')}/{metadata.get('name')}"
        raise RecordError(
            f"{where}: the {ANNOTATION} annotation is not a record globaldns install wrote "
            f"({err}); restore the ConfigMap's data by hand and remove the annotation"
        ) from None


def _parse(text: object) -> Record:
    """The record in the annotation's JSON; `ValueError` saying which field is wrong."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    previous, applied = doc.get("previous"), doc.get("applied")
    if not isinstance(previous, dict) or not all(
        isinstance(value, str | None) for value in previous.values()
    ):
        raise ValueError("`previous` is not a map of strings")
    if not isinstance(applied, list) or not all(
        isinstance(item, list) and len(item) == 4 and all(isinstance(part, str) for part in item)
        for item in applied
    ):
        raise ValueError("`applied` is not a list of [apiVersion, kind, namespace, name]")
    had_annotations, had_data = doc.get("hadAnnotations"), doc.get("hadData")
    created = doc.get("created", False)  # records of earlier installs lack it
    if not all(isinstance(flag, bool) for flag in (had_annotations, had_data, created)):
        raise ValueError("`hadAnnotations`, `hadData` or `created` is not true or false")
    refs = tuple(Ref(*item) for item in applied)
    return Record(previous, refs, bool(had_annotations), bool(had_data), bool(created))


def first(
    obj: Obj,
    data: dict[str, str],
    wired: dict[str, str],
    applied: tuple[Ref, ...],
    created: bool = False,
) -> Record:
    """The record of a first install: `obj` as it is now (its wired part `data`) is the
    original. Only the keys wiring changes (to `wired`) are saved."""
    keys = sorted(key for key in {*data, *wired} if data.get(key) != wired.get(key))
    return Record(
        previous={key: data.get(key) for key in keys},
        applied=applied,
        had_annotations=bool(obj["metadata"].get("annotations") or {}),
        had_data="data" in obj,
        created=created,
    )


def with_record(obj: Obj, record: Record) -> Obj:
    """The object with the record annotation set."""
    meta = dict(obj["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), ANNOTATION: record.to_json()}
    return {**obj, "metadata": meta}


def without_record(obj: Obj, record: Record) -> Obj:
    """The object without the record, its metadata (and a ConfigMap's `data`) shaped as
    before install."""
    meta = dict(obj["metadata"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != ANNOTATION}
    if annotations or record.had_annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    restored: Obj = {**obj, "metadata": meta}
    if "data" in restored and not restored["data"] and not record.had_data:
        restored.pop("data")
    return restored
