"""Safe YAML loading that remembers the line of every mapping and list item.

Rule files are data only: the loader builds plain dicts, lists and scalars (SafeLoader), rejects
anchors and aliases (which can expand exponentially), explicit tags other than the core types
(`!!python/object` and the like) and oversized documents, and records line numbers so that every
validation error can say `file:line:`.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

import yaml

from llm_advisor.engine.errors import RuleError

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


class _Text:
    """A document's text, for errors that say `file:line:` with lines as editors count them.

    YAML also ends a line at U+0085, U+2028 and U+2029, which editors show inside a line; its
    line numbers are corrected for those, and kept inside the file (a problem at the end of the
    text is reported one line past the last one).
    """

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self._extra = [m.start() for m in _EXTRA_BREAKS.finditer(text)]
        breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
        self._last = breaks + (not text.endswith(("\n", "\r")))

    def line(self, mark: Any) -> int:
        """The line of a YAML mark (1 when there is none)."""
        if mark is None:
            return 1
        line = int(mark.line) + 1 - bisect.bisect_left(self._extra, int(mark.index))
        return max(1, min(line, self._last))

    def error(self, at: yaml.Node | yaml.Event, message: str) -> RuleError:
        return RuleError(self.file, self.line(at.start_mark), message)


_EXTRA_BREAKS = re.compile("[\x85\u2028\u2029]")
_BREAKS = re.compile(r"\r\n|\r|\n")


def _scan(src: _Text) -> None:
    """Reject anchors, aliases, tags, excessive nesting and size before anything is built."""
    depth = 0
    nodes = 0
    for event in yaml.parse(src.text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise src.error(event, "anchors and aliases are not allowed")
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if not isinstance(event, yaml.NodeEvent):
            continue
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in CORE_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!", 1)
            raise src.error(event, f"the tag {shown} is not allowed: files are data")
        nodes += 1
        if nodes > MAX_NODES:
            raise src.error(event, f"more than {MAX_NODES} values in one file")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise src.error(event, f"nesting deeper than {MAX_DEPTH} levels")


def _build(loader: Any, node: yaml.Node, src: _Text, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise src.error(node, f"nesting deeper than {MAX_DEPTH} levels")
    if isinstance(node, yaml.MappingNode):
        mapping = Mapping()
        mapping.line = src.line(node.start_mark)
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, src)
            if not isinstance(key, str):
                raise src.error(key_node, f"key {key!r} must be a string")
            if key in mapping:
                raise src.error(key_node, f"duplicate key {key!r}")
            mapping[key] = _build(loader, value_node, src, depth + 1)
            mapping.key_lines[key] = src.line(key_node.start_mark)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        sequence = Sequence()
        sequence.line = src.line(node.start_mark)
        sequence.item_lines = []
        for item in node.value:
            sequence.append(_build(loader, item, src, depth + 1))
            sequence.item_lines.append(src.line(item.start_mark))
        return sequence
    return _construct(loader, node, src)


def _construct(loader: Any, node: yaml.Node, src: _Text) -> Any:
    """A scalar (or key) as Python data; a value YAML reads but Python cannot hold, such as
    the date 2024-13-45, is a `RuleError` too. A number not written in plain decimal stays the
    text it was written as (see `_not_decimal`)."""
    if _not_decimal(node):
        return node.value
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError) as err:
        raise src.error(node, f"bad value: {err}") from None


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_DECIMAL_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")


def _not_decimal(node: yaml.Node) -> bool:
    """Whether YAML 1.1 would read a number written otherwise than in plain decimal: `0500` as
    octal 320, `0x10` and `0b10` in base 16 and 2, `1:30` in base 60 (90), `1_000` without its
    underscores. Such a value is kept as text, which the fact types read as the command line
    does (`0500` is 500) or refuse, naming what was written, instead of another number."""
    if not isinstance(node, yaml.ScalarNode):
        return False
    if node.tag == _INT:
        return _DECIMAL_INT.fullmatch(node.value) is None
    return node.tag == _FLOAT and any(char in node.value for char in ":_")


def parse(text: str, file: str) -> Any:
    """Parse one YAML document; syntax errors become `RuleError` with the line."""
    if len(text) > MAX_BYTES:
        raise RuleError(file, 1, f"file larger than {MAX_BYTES} bytes")
    src = _Text(text, file)
    loader = None
    try:
        _scan(src)
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        return _build(loader, node, src, 0)
    except yaml.MarkedYAMLError as err:
        line = src.line(err.problem_mark or err.context_mark)
        raise RuleError(file, line, f"YAML syntax: {err.problem or err.context}") from None
    except yaml.reader.ReaderError as err:
        # A character YAML does not allow (a control character, say); the error says where in
        # bytes or characters depending on the parser, so find the character itself.
        char = chr(err.character) if isinstance(err.character, int) else str(err.character)
        line = len(_BREAKS.findall(text, 0, max(0, text.find(char)))) + 1
        raise RuleError(file, line, f"YAML syntax: {err.reason} (U+{ord(char):04X})") from None
    except yaml.YAMLError as err:
        problem = " ".join(str(err).split())
        raise RuleError(file, 1, f"YAML syntax: {problem}") from None
    except RecursionError:
        raise RuleError(file, 1, "document nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def parse_bytes(raw: bytes, name: str) -> Any:
    """Parse a file's bytes (UTF-8 YAML); errors name the file `name`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise RuleError(name, line, "not valid UTF-8") from None
    return parse(text, name)
