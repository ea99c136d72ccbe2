"""Label and field selectors with the Kubernetes grammar, so list and watch filter like a real
API server does."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=()]*)\s*$")


class SelectorError(ValueError):
    """A selector the API server would reject with 400 BadRequest."""


def _split_terms(selector: str) -> list[str]:
    terms: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    equality = _EQ_TERM.match(term)
    if equality:
        key, op, value = equality.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    set_based = _SET_TERM.match(term)
    if not set_based:
        raise SelectorError(f"unable to parse requirement: {term!r}")
    negated, key, op, values_text = set_based.groups()
    if op is None:
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    if negated:
        raise SelectorError(f"unable to parse requirement: {term!r}")
    values = {v.strip() for v in values_text.split(",") if v.strip()}
    if op == "in":
        return lambda labels: labels.get(key) in values
    return lambda labels: labels.get(key) not in values


def label_selector(selector: str) -> Predicate:
    """Parse a labelSelector into a predicate over whole objects."""
    terms = [_label_term(t) for t in _split_terms(selector)]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def field_selector(selector: str) -> Predicate:
    """Parse a fieldSelector (=, ==, != on dotted paths such as metadata.name)."""
    terms: list[tuple[str, bool, str]] = []
    for term in _split_terms(selector):
        equality = _EQ_TERM.match(term)
        if not equality:
            raise SelectorError(f"invalid selector: {term!r}")
        path, op, value = equality.groups()
        terms.append((path, op != "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) == want for path, want, value in terms)

    return matches
