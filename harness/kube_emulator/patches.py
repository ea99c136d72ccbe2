"""The patch formats of PATCH requests: JSON merge patch (RFC 7386) and JSON patch (RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch that cannot be applied; the API server answers these with 422 or 400."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch, returning a new document."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise PatchError(f"path component {part!r} does not exist") from exc
    return node


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    try:
        return parent[int(parts[-1])] if isinstance(parent, list) else parent[parts[-1]]
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise PatchError(f"path {'/'.join(parts)!r} does not exist") from exc


def _remove(doc: Any, parts: list[str]) -> Any:
    value = _get(doc, parts)
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        del parent[int(parts[-1])]
    else:
        del parent[parts[-1]]
    return value


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        index = len(parent) if parts[-1] == "-" else int(parts[-1])
        if not 0 <= index <= len(parent):
            raise PatchError(f"index {index} out of range")
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[parts[-1]] = value
    else:
        raise PatchError(f"cannot add under {parts[:-1]!r}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch, returning a new document."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for operation in operations:
        op = operation.get("op")
        parts = _pointer(operation.get("path", ""))
        if op == "add":
            doc = _add(doc, parts, copy.deepcopy(operation["value"]))
        elif op == "remove":
            _remove(doc, parts)
        elif op == "replace":
            _get(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(operation["value"]))
        elif op == "test":
            if _get(doc, parts) != operation.get("value"):
                raise PatchError(f"test operation failed at {operation.get('path')!r}")
        elif op in ("move", "copy"):
            source = _pointer(operation["from"])
            value = _remove(doc, source) if op == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        else:
            raise PatchError(f"unknown JSON patch operation {op!r}")
    return doc
