"""Deterministic mutations of the shipped rule base.

A mutant is a whole rule base directory (file name -> content). Mutations are structural (edit
the parsed YAML of one file: delete keys, wrong types, dangling references, duplicates, cycles,
deep nesting, huge documents; then dump it again with `yaml.safe_dump`) or textual (edit the
bytes: truncation, junk, invalid UTF-8, binary files, exponential aliases, Python tags, broken
indentation, missing or extra files). Mutant `i` of seed `s` depends on `(s, i)` only, so a
failure is reproduced by its index alone.
"""

from __future__ import annotations

import copy
import datetime
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from llm_advisor.engine.language.loader import SCHEMA_FILES, default_rules_dir

Files = dict[str, bytes | None]
"""A rule base directory: file name -> content; None makes a directory of that name instead."""


@dataclass(frozen=True)
class Mutant:
    index: int
    description: str
    files: Files


def shipped_files() -> dict[str, bytes]:
    """The shipped rule base, file by file."""
    return {path.name: path.read_bytes() for path in sorted(default_rules_dir().glob("*.yaml"))}


# --- values -----------------------------------------------------------------------------------

JUNK: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    7,
    10**30,
    -(10**30),
    2**63,
    1.5,
    -0.0,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    " ",
    "x",
    "NaN",
    "-5k",
    "1e999",
    "$-3",
    "∞",
    "ünïcødé",
    "🙂🙂🙂",
    "\u202ereversed",
    "nul\x00inside",
    "line\nbreak",
    "tab\there",
    "'quote\"",
    "{braces} [brackets]",
    "a --> b",
    "<b>html</b> &amp;",
    "x" * 10_000,
    [],
    {},
    [1, [2, [3]]],
    {"a": {"b": None}},
    ["x", "x", "x"],
    datetime.date(2024, 1, 1),
    b"\xff\xfe",
)

WRONG: dict[str, tuple[Any, ...]] = {
    "fact": ("no_such_fact", "Budget", "budget ", "knowledge_gap", 3),
    "derived": ("no_such_derived", "budget", "KnowledgeGap", ["knowledge_gap"]),
    "source": ("no-such-source", "", "Openai Accuracy"),
    "derive": ("budget", "brand_new_fact", ["twice", "twice"], "Bad Name", []),
    "is": ("no_such_value", 5, True, None, "yes", "knowledge"),
    "in": ([], ["no_such_value"], "knowledge", [[1]], ["knowledge", "knowledge"]),
    "below": ("-5k", "lots", 0, -1, "1e999", "5 parsecs", "$5k", "3w", True, "0.0000001"),
    "at_least": ("-5k", "lots", 0, "1e18", "99999999999999999999t", "1y", "", [1]),
    "combine": (["rag"], ["rag", "rag"], ["rag", "nope"], "rag", ["rag", "fine_tuning", "x"]),
    "type": ("string", "int", None, "Enum", "quantity", "bool"),
    "unit": ("parsecs", None, "usd", "tokens", "duration"),
    "values": ([], ["Bad Value"], ["a", "a"], "a,b", [None]),
    "default": ("no_such_value", -1, "1e999", [1], "unknown", "1y"),
    "id": ("Bad Id", "", "rag", None, "knowledge-gap", "-leading-dash"),
    "name": ("Bad Name", "", "budget", None, "problem_type"),
    "profile": ({"accuracy": 1}, {"accuracy": "high"}, [], {"accuracy": 1, "speed": 2}),
    "score": ({"no_such_approach": 1}, {"rag": 1001}, {"rag": 1.5}, {"rag": "2"}, {"rag": True}),
    "exclude": ({"no_such_approach": "why"}, {"rag": ""}, {"rag": None}, ["rag"]),
    "when": ({}, {"fact": "budget"}, {"all": []}, {"any": "x"}, {"not": []}, {"colour": 1}),
    "then": ({}, {"derive": None}, {"advise": ""}, {"score": {}}, {"explode": True}),
    "question": ("", None, 5),
    "title": ("", None, ["a"], "x" * 100_000),
}


# --- walking a parsed document ----------------------------------------------------------------


MAX_SLOTS = 20_000
"""Places of a document a mutation chooses from (documents grown huge are not walked whole)."""


def _slots(node: Any) -> list[tuple[Any, Any, str]]:
    """(container, key or index, path) for the places in a parsed document, at most
    `MAX_SLOTS`; paths keep their last 80 characters."""
    out: list[tuple[Any, Any, str]] = []
    stack: list[tuple[Any, str]] = [(node, "")]
    while stack and len(out) < MAX_SLOTS:
        current, path = stack.pop()
        if isinstance(current, dict):
            items = [(key, f"{path}.{key!s:.40}") for key in current]
        elif isinstance(current, list):
            items = [(i, f"{path}[{i}]") for i in range(len(current))]
        else:
            continue
        for key, here in items:
            out.append((current, key, here[-80:]))
            stack.append((current[key], here[-80:]))
    return out


def _rules(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and isinstance(doc.get("rules"), list):
        return [r for r in doc["rules"] if isinstance(r, dict)]
    return []


def _literals(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Distinct, satisfiable fact tests spread over the quantity facts."""
    facts = ("budget", "data_volume", "labeled_examples", "timeline")
    units = {"budget": "", "data_volume": "", "labeled_examples": "", "timeline": "d"}
    out = []
    for k in range(count):
        fact = facts[k % len(facts)]
        op = rng.choice(("below", "at_least"))
        out.append({"fact": fact, op: f"{k + 1}{units[fact]}"})
    return out


# --- structural mutations: (rng, doc) -> description; they edit doc.value in place -----------


@dataclass
class Doc:
    """The parsed document of one file, to be edited."""

    name: str
    value: Any


def delete_key(rng: random.Random, doc: Doc) -> str:
    slots = _slots(doc.value)
    if not slots:
        doc.value = None
        return f"{doc.name}: emptied"
    container, key, path = rng.choice(slots)
    del container[key]
    return f"{doc.name}: deleted {path}"


def wrong_type(rng: random.Random, doc: Doc) -> str:
    slots = _slots(doc.value)
    value = copy.deepcopy(rng.choice(JUNK))
    if not slots:
        doc.value = value
        return f"{doc.name}: replaced by {value!r:.40}"
    container, key, path = rng.choice(slots)
    container[key] = value
    return f"{doc.name}: {path} = {value!r:.40}"


def wrong_reference(rng: random.Random, doc: Doc) -> str:
    """A key the rule language knows, given a plausible but wrong value."""
    slots = [s for s in _slots(doc.value) if isinstance(s[1], str) and s[1] in WRONG]
    if not slots:
        return wrong_type(rng, doc)
    container, key, path = rng.choice(slots)
    value = copy.deepcopy(rng.choice(WRONG[key]))
    container[key] = value
    return f"{doc.name}: {path} = {value!r:.40}"


def unknown_key(rng: random.Random, doc: Doc) -> str:
    mappings = [c for c, _, _ in _slots(doc.value) if isinstance(c, dict)]
    if not mappings:
        return wrong_type(rng, doc)
    key = rng.choice(("colour", "Id", "ids", "whenn", "because ", "", "🙂", "1"))
    rng.choice(mappings)[key] = copy.deepcopy(rng.choice(JUNK[:20]))
    return f"{doc.name}: added key {key!r}"


def rename_key(rng: random.Random, doc: Doc) -> str:
    slots = [s for s in _slots(doc.value) if isinstance(s[0], dict)]
    if not slots:
        return wrong_type(rng, doc)
    container, key, path = rng.choice(slots)
    other = rng.choice([k for _, k, _ in slots if isinstance(k, str)] + ["renamed"])
    container[other] = container.pop(key)
    return f"{doc.name}: renamed {path} to {other!r}"


def duplicate(rng: random.Random, doc: Doc) -> str:
    """A list item twice (a duplicate rule, fact, approach or value), or a rule id reused."""
    rules = _rules(doc.value)
    if len(rules) > 1 and rng.random() < 0.5:
        first, second = rng.sample(rules, 2)
        second["id"] = first.get("id")
        return f"{doc.name}: rule id {first.get('id')!r} used twice"
    lists = [c for c, _, _ in _slots(doc.value) if isinstance(c, list) and c]
    if not lists:
        return wrong_type(rng, doc)
    target = rng.choice(lists)
    target.append(copy.deepcopy(rng.choice(target)))
    return f"{doc.name}: duplicated a list item"


def cycle(rng: random.Random, doc: Doc) -> str:
    """Make a derived fact depend on itself, directly or through another derivation."""
    producers = [
        rule
        for rule in _rules(doc.value)
        if isinstance(rule.get("then"), dict) and isinstance(rule["then"].get("derive"), str)
    ]
    if len(producers) < 2:
        return wrong_type(rng, doc)
    a, b = rng.sample(producers, 2)

    def test(name: str) -> dict[str, Any]:
        return {"derived": name} if rng.random() < 0.7 else {"not": {"derived": name}}

    if rng.random() < 0.5:
        a["when"] = {"all": [a.get("when"), test(a["then"]["derive"])]}
        return f"{doc.name}: {a.get('id')} depends on what it derives"
    a["when"] = {"all": [a.get("when"), test(b["then"]["derive"])]}
    b["when"] = {"any": [b.get("when"), test(a["then"]["derive"])]}
    return f"{doc.name}: {a.get('id')} and {b.get('id')} depend on each other"


def nest(rng: random.Random, doc: Doc) -> str:
    """Wrap a rule's condition in many levels of all / any / not."""
    rules = _rules(doc.value)
    if not rules:
        return wrong_type(rng, doc)
    rule = rng.choice(rules)
    depth = rng.choice((1, 5, 20, 31, 40, 100, 1000))
    when = rule.get("when")
    for _ in range(depth):
        kind = rng.choice(("all", "any", "not", "not"))
        when = {kind: when} if kind == "not" else {kind: [when]}
    rule["when"] = when
    return f"{doc.name}: {rule.get('id')} nested {depth} levels deep"


def huge(rng: random.Random, doc: Doc) -> str:
    """Huge documents: many rules, long lists, exploding conditions, long strings."""
    rules = _rules(doc.value)
    if not rules:
        return wrong_type(rng, doc)
    rule = rng.choice(rules)
    kind = rng.choice(("copies", "long-any", "dnf", "long-string", "many-derived"))
    if kind == "copies":
        count = rng.choice((50, 400, 1500))
        for k in range(count):
            clone = copy.deepcopy(rule)
            clone["id"] = f"{rule.get('id')}-copy{k}"
            doc.value["rules"].append(clone)
        return f"{doc.name}: {count} copies of {rule.get('id')}"
    if kind == "long-any":
        count = rng.choice((100, 257, 3000))
        rule["when"] = {"any": _literals(rng, count)}
        return f"{doc.name}: {rule.get('id')} has an 'any' of {count} tests"
    if kind == "dnf":
        parts, width = rng.choice(((3, 6), (4, 8), (6, 10), (2, 2000)))
        rule["when"] = {"all": [{"any": _literals(rng, width)} for _ in range(parts)]}
        return f"{doc.name}: {rule.get('id')} is an 'all' of {parts} 'any' of {width}"
    if kind == "long-string":
        size = rng.choice((10_000, 500_000, 3_000_000))
        rule["title"] = "é" * size
        return f"{doc.name}: {rule.get('id')} has a title of {size} characters"
    count = rng.choice((10, 1000))
    rule["then"] = {"derive": [f"made_up_{k}" for k in range(count)]}
    return f"{doc.name}: {rule.get('id')} derives {count} facts"


STRUCTURAL: tuple[Callable[[random.Random, Doc], str], ...] = (
    delete_key,
    delete_key,
    wrong_type,
    wrong_type,
    wrong_reference,
    wrong_reference,
    wrong_reference,
    unknown_key,
    rename_key,
    duplicate,
    cycle,
    nest,
    huge,
)


# --- textual mutations: (rng, files) -> description; they edit files in place -----------------


def _pick_text(rng: random.Random, files: Files) -> str:
    return rng.choice(sorted(n for n, v in files.items() if v is not None))


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


def truncate(rng: random.Random, files: Files) -> str:
    name = _pick_text(rng, files)
    data = files[name] or b""
    cut = rng.randrange(len(data) + 1)
    files[name] = data[:cut]
    return f"{name}: cut at byte {cut}"


def edit_lines(rng: random.Random, files: Files) -> str:
    name = _pick_text(rng, files)
    lines = _lines(files[name] or b"")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    kind = rng.choice(("delete", "duplicate", "swap", "indent", "dedent", "tab"))
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "indent":
        lines[i] = b" " * rng.choice((1, 2, 3, 8)) + lines[i]
    elif kind == "dedent":
        lines[i] = lines[i].lstrip(b" ")
    else:
        lines[i] = b"\t" + lines[i]
    files[name] = b"".join(lines)
    return f"{name}: {kind} line {i + 1}"


JUNK_BYTES = (
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",  # an encoded surrogate: not valid UTF-8
    b"\x00",
    b"\x1b[31m",
    b":",
    b": :",
    b"- ",
    b"{",
    b"]",
    b"'",
    b'"',
    b"&a ",
    b"*a",
    b"!!",
    b"%YAML 1.1\n",
    b"---\n",
    b"...\n",
    b"? ",
    b"|\n",
    b"\r",
    b"\xef\xbb\xbf",
    b"\xe2\x80\xa8",
    "💥".encode(),
)


def insert_junk(rng: random.Random, files: Files) -> str:
    name = _pick_text(rng, files)
    data = files[name] or b""
    at = rng.randrange(len(data) + 1)
    junk = b"".join(rng.choice(JUNK_BYTES) for _ in range(rng.randint(1, 3)))
    files[name] = data[:at] + junk + data[at:]
    return f"{name}: inserted {junk!r} at byte {at}"


def flip_bytes(rng: random.Random, files: Files) -> str:
    name = _pick_text(rng, files)
    data = bytearray(files[name] or b"")
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    files[name] = bytes(data)
    return f"{name}: flipped bytes"


def binary(rng: random.Random, files: Files) -> str:
    name = _pick_text(rng, files)
    size = rng.choice((0, 1, 64, 4096, 100_000))
    files[name] = rng.randbytes(size)
    return f"{name}: replaced by {size} random bytes"


def laughs(rng: random.Random, files: Files) -> str:
    """Aliases that expand exponentially ("billion laughs"), or one harmless-looking alias."""
    name = _pick_text(rng, files)
    levels = rng.choice((1, 3, 9))
    head = [b'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n']
    for k in range(1, levels + 1):
        refs = b", ".join(b"*a%d" % (k - 1) for _ in range(9))
        head.append(b"a%d: &a%d [%s]\n" % (k, k, refs))
    if rng.random() < 0.5:
        files[name] = b"".join(head)
    else:
        lines = _lines(files[name] or b"")
        at = rng.randrange(len(lines))
        lines.insert(at, b"x-anchor: &shared {fact: budget, below: 5k}\n")
        files[name] = b"".join(lines)
    return f"{name}: {levels} levels of aliases"


PLANTED = (
    b"!!python/object/apply:os.system ['echo executed']",
    b"!!python/object:builtins.dict {}",
    b"!!python/name:os.system",
    b"!!python/object/new:str [x]",
    b"!!binary aGVsbG8=",
    b"!!timestamp 2001-12-14",
    b"!!set {a, b}",
    b"!!omap [a: 1]",
    b"!custom thing",
    b"!!str 5",
    b"2024-13-45",
    b"9999-12-31 23:59:59 +99:00",
    b"0o777777777777777777777777777777",
    b"1:2:3:4:5",
)
"""Values that are tagged, or that YAML reads as something Python cannot hold."""


def plant(rng: random.Random, files: Files) -> str:
    """Put a tagged value (mostly Python object tags) or an impossible date in place of one."""
    name = _pick_text(rng, files)
    lines = _lines(files[name] or b"")
    candidates = [i for i, line in enumerate(lines) if b": " in line and b"#" not in line[:2]]
    chosen = rng.choice(PLANTED)
    if not candidates:
        files[name] = chosen + b"\n"
        return f"{name}: replaced by {chosen!r}"
    i = rng.choice(candidates)
    key, _, _ = lines[i].partition(b": ")
    lines[i] = key + b": " + chosen + b"\n"
    files[name] = b"".join(lines)
    return f"{name}: line {i + 1} tagged {chosen!r}"


def encoding(rng: random.Random, files: Files) -> str:
    name = _pick_text(rng, files)
    data = files[name] or b""
    text = data.decode("utf-8", "replace")
    kind = rng.choice(("crlf", "bom", "utf-16", "latin-1", "nul-end", "cr"))
    if kind == "crlf":
        files[name] = data.replace(b"\n", b"\r\n")
    elif kind == "cr":
        files[name] = data.replace(b"\n", b"\r")
    elif kind == "bom":
        files[name] = b"\xef\xbb\xbf" + data
    elif kind == "utf-16":
        files[name] = text.encode("utf-16")
    elif kind == "latin-1":
        files[name] = text.encode("latin-1", "replace") + b"\xe9"
    else:
        files[name] = data + b"\x00"
    return f"{name}: {kind}"


def files_changed(rng: random.Random, files: Files) -> str:
    """Missing schema files, extra rule files, a directory where a file should be."""
    kind = rng.choice(("remove", "remove-rules", "extra", "directory", "empty", "comments"))
    if kind == "remove":
        name = rng.choice(SCHEMA_FILES)
        files.pop(name, None)
        return f"removed {name}"
    if kind == "remove-rules":
        name = rng.choice(sorted(n for n in files if n not in SCHEMA_FILES))
        files.pop(name, None)
        return f"removed {name}"
    if kind == "extra":
        content = rng.choice(
            (b"", b"rules: []\n", b"rules:\n", b"facts: []\n", b"- a\n", b"rules: {}\n", b"x: 1\n")
        )
        files["zz-extra.yaml"] = content
        return f"added zz-extra.yaml = {content!r}"
    name = _pick_text(rng, files) if kind != "directory" else rng.choice(sorted(files))
    if kind == "directory":
        files[name] = None
        return f"{name} is a directory"
    if kind == "empty":
        files[name] = rng.choice((b"", b"\n", b"   \n", b"~\n", b"---\n", b"...\n"))
        return f"{name}: empty"
    files[name] = b"# only a comment\n"
    return f"{name}: only a comment"


TEXTUAL: tuple[Callable[[random.Random, Files], str], ...] = (
    truncate,
    edit_lines,
    edit_lines,
    insert_junk,
    insert_junk,
    flip_bytes,
    binary,
    laughs,
    plant,
    plant,
    encoding,
    files_changed,
)


# --- putting it together ----------------------------------------------------------------------


_PARSED: dict[bytes, Any] = {}


def _parse(data: bytes) -> Any:
    """A file's document (cached: the same bytes are parsed once); raises yaml.YAMLError."""
    doc = _PARSED.get(data)
    if doc is None:
        doc = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if len(_PARSED) < 64:
            _PARSED[data] = doc
    return copy.deepcopy(doc)


def _dump(doc: Any, rng: random.Random) -> bytes:
    text = yaml.dump(
        doc,
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
        sort_keys=False,
        allow_unicode=rng.random() < 0.5,
        default_flow_style=rng.choice((False, None)),
        width=rng.choice((80, 10**9)),
    )
    return text.encode("utf-8")


def structural(rng: random.Random, files: Files) -> str:
    """One structural mutation of one file that parses (else a textual mutation)."""
    names = sorted(n for n, data in files.items() if data is not None)
    rng.shuffle(names)
    for name in names:
        try:
            doc = Doc(name, _parse(files[name] or b""))
        except Exception:  # an earlier textual mutation broke it (PyYAML may raise anything)
            continue
        step = rng.choice(STRUCTURAL)(rng, doc)
        try:
            files[name] = _dump(doc.value, rng)
        except (yaml.YAMLError, ValueError, RecursionError):
            return f"{step} (could not be dumped; file left unchanged)"
        return step
    return rng.choice(TEXTUAL)(rng, files)


def mutate(base: dict[str, bytes], seed: int, index: int) -> Mutant:
    """Mutant `index` of `seed`: one to three mutations of the rule base `base`."""
    rng = random.Random(f"{seed}:{index}")
    files: Files = dict(base)
    steps = [
        structural(rng, files) if rng.random() < 0.6 else rng.choice(TEXTUAL)(rng, files)
        for _ in range(rng.choice((1, 1, 1, 2, 3)))
    ]
    return Mutant(index, "; ".join(steps), files)


def mutants(base: dict[str, bytes], seed: int, count: int, start: int = 0) -> Iterator[Mutant]:
    for index in range(start, start + count):
        yield mutate(base, seed, index)
