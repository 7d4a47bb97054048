"""Safe YAML loading that remembers the line of every mapping and list item.

Rule files are data only: the loader builds plain dicts, lists and scalars (SafeLoader), rejects
anchors and aliases (which can expand exponentially), explicit tags other than the core types
(`!!python/object` and the like) and oversized documents, and records line numbers so that every
validation error can say `file:line:`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import RuleError

MAX_BYTES = 2_000_000
MAX_DEPTH = 64
MAX_NODES = 100_000
"""Values (scalars, lists, mappings) in one document: bounds the time a file takes to load."""
CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")
)
"""Explicit tags that are allowed: they name plain data types."""


class Mapping(dict[str, Any]):
    """A YAML mapping with the line of the mapping and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class Sequence(list[Any]):
    """A YAML list with its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


# libyaml (C) parses about seven times faster than pure Python; both give the same nodes.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scan(text: str, file: str) -> None:
    """Reject anchors, aliases, tags, excessive nesting and size before anything is built."""
    depth = 0
    nodes = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise RuleError(file, _line(event), "anchors and aliases are not allowed")
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if not isinstance(event, yaml.NodeEvent):
            continue
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in CORE_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!", 1)
            raise RuleError(file, _line(event), f"the tag {shown} is not allowed: files are data")
        nodes += 1
        if nodes > MAX_NODES:
            raise RuleError(file, _line(event), f"more than {MAX_NODES} values in one file")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise RuleError(file, _line(event), f"nesting deeper than {MAX_DEPTH} levels")


def _line(node: yaml.Node | yaml.Event) -> int:
    mark = node.start_mark
    return int(mark.line) + 1 if mark is not None else 1


def _build(loader: Any, node: yaml.Node, file: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise RuleError(file, _line(node), f"nesting deeper than {MAX_DEPTH} levels")
    if isinstance(node, yaml.MappingNode):
        mapping = Mapping()
        mapping.line = _line(node)
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, file)
            if not isinstance(key, str):
                raise RuleError(file, _line(key_node), f"key {key!r} must be a string")
            if key in mapping:
                raise RuleError(file, _line(key_node), f"duplicate key {key!r}")
            mapping[key] = _build(loader, value_node, file, depth + 1)
            mapping.key_lines[key] = _line(key_node)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        sequence = Sequence()
        sequence.line = _line(node)
        sequence.item_lines = []
        for item in node.value:
            sequence.append(_build(loader, item, file, depth + 1))
            sequence.item_lines.append(_line(item))
        return sequence
    return _construct(loader, node, file)


def _construct(loader: Any, node: yaml.Node, file: str) -> Any:
    """A scalar (or key) as Python data; a value YAML reads but Python cannot hold, such as
    the date 2024-13-45, is a `RuleError` too."""
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError) as err:
        raise RuleError(file, _line(node), f"bad value: {err}") from None


def parse(text: str, file: str) -> Any:
    """Parse one YAML document; syntax errors become `RuleError` with the line."""
    if len(text) > MAX_BYTES:
        raise RuleError(file, 1, f"file larger than {MAX_BYTES} bytes")
    loader = None
    try:
        _scan(text, file)
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        return _build(loader, node, file, 0)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        # A problem at the end of the text is reported one line past the last one.
        line = min(int(mark.line) + 1, len(text.splitlines()) or 1) if mark is not None else 1
        raise RuleError(file, line, f"YAML syntax: {err.problem or err.context}") from None
    except yaml.reader.ReaderError as err:
        # A character YAML does not allow (a control character, say); the error says where in
        # bytes or characters depending on the parser, so find the character itself.
        char = chr(err.character) if isinstance(err.character, int) else str(err.character)
        line = text.count("\n", 0, max(0, text.find(char))) + 1
        raise RuleError(file, line, f"YAML syntax: {err.reason} (U+{ord(char):04X})") from None
    except yaml.YAMLError as err:
        problem = " ".join(str(err).split())
        raise RuleError(file, 1, f"YAML syntax: {problem}") from None
    except RecursionError:
        raise RuleError(file, 1, "document nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_file(path: Path) -> tuple[Any, bytes]:
    """Read and parse a file; returns the parsed document and the raw bytes."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise RuleError(path.name, 1, f"cannot read: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise RuleError(path.name, line, "not valid UTF-8") from None
    return parse(text, path.name), raw
