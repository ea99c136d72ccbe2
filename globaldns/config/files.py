"""YAML files read as untrusted input: strict (a key given twice is an error), one-line errors
that name the file and the fix, and big documents freed without stalling the serving loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from globaldns.config.values import ConfigError
from globaldns.errors import GlobalDnsError

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml: the same, 5-10x slower
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


def load_file(file: Path) -> dict[str, Any]:
    doc = read_yaml(file, "config file")
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{file}: must be a mapping of settings, not {type(doc).__name__}")
    return doc


class StrictLoader(_SafeLoader):
    """Safe YAML (libyaml's parser when present) that rejects a key given twice in a mapping.

    Plain PyYAML keeps the last of two equal keys, so a pasted block silently replaces another.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            key = (key_node.tag, key_node.value)
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key_node.value!r} appears twice (first on line {first_line[key]}); "
                    "keep one",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml(file: Path, what: str, error: type[GlobalDnsError] = ConfigError) -> Any:
    """A YAML file's document; any problem is one line naming the file, where, and the fix."""
    return yaml_document(read_bytes(file, what, error), str(file), what, error)


def read_bytes(file: Path, what: str, error: type[GlobalDnsError]) -> bytes:
    try:
        return file.read_bytes()
    except OSError as err:
        raise error(f"{file}: cannot read the {what}: {err.strerror}") from None


def yaml_document(data: bytes, where: str, what: str, error: type[GlobalDnsError]) -> Any:
    """The document of YAML bytes read from `where`, or `error` saying where and what is wrong."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(
            f"{where}: the {what} is not UTF-8 text (at byte {err.start}); save it as UTF-8"
        ) from None
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        raise error(f"{where}: the {what} is not valid YAML: {yaml_problem(err)}") from None
    finally:
        loader.dispose()
    free_gradually(node)
    return document


def free_gradually(tree: Any) -> None:
    """Take a large tree of containers apart one container at a time.

    Dropping the root of a big document frees every object below it in one C-level cascade
    that never lets go of the GIL (100 ms at 20,000 services, all of it a DNS stall while a
    worker thread reloads); here Python runs between the pieces, so the serving loop gets turns.
    """
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
            item.clear()
        elif isinstance(item, list):
            stack.extend(item)
            item.clear()
        elif isinstance(item, tuple):
            stack.extend(item)
        elif isinstance(item, yaml.Node):
            stack.append(item.value)
            item.value = None


def yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's message in one line: where, then what."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        mark = err.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {err.problem}"
    return " ".join(str(err).split())
