"""Options and input readers shared by several commands."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from llm_advisor.engine.errors import InputError

if TYPE_CHECKING:
    from llm_advisor.engine.language.facts import Case
    from llm_advisor.engine.language.model import KnowledgeBase
    from llm_advisor.engine.language.source import Mapping as SourceMapping

F = TypeVar("F", bound=Callable[..., Any])

rules_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Rule base directory (default: the shipped one).",
)
audit_db_option = click.option(
    "--audit-db",
    "audit_db",
    metavar="PATH|URL",
    default=None,
    help="Audit store: a SQLite file or a postgresql://user@host:port/db URL (default:"
    " $LLM_ADVISOR_AUDIT_DB, else the user data directory).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
fact_option = click.option(
    "--fact",
    "fact_args",
    multiple=True,
    metavar="NAME=VALUE",
    help="A fact, e.g. --fact budget=50k (repeatable; quote a value with $: 'budget=$50k').",
)


output_option = click.option(
    "-o",
    "--output",
    "output",
    metavar="FILE",
    default=None,
    help="Write to FILE instead of stdout.",
)


def write_text(output: str | None, text: str, kind: str) -> None:
    """`text` to stdout, or to the file `output` written whole or not at all."""
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    from llm_advisor.engine.outfile import write_output

    try:
        write_output(Path(output), text.encode("utf-8"), kind)
    except OSError as err:
        raise InputError(f"cannot write {output}: {err.strerror or err}", item=output) from None


def _one_facts_file(
    ctx: click.Context, param: click.Parameter, given: tuple[str, ...]
) -> str | None:
    """The facts file; given twice, one would be ignored, so that is bad input."""
    if len(given) > 1:
        raise InputError(f"give --facts once (got {', '.join(given)})", item="--facts")
    return given[0] if given else None


facts_file_option = click.option(
    "--facts",
    "facts_file",
    metavar="FILE|-",
    multiple=True,
    callback=_one_facts_file,
    help="Facts as a YAML or JSON mapping, from a file or - for stdin (--fact values override it).",
)


CACHE_ENV = "LLM_ADVISOR_CACHE_DIR"


def cache_dir() -> Path:
    """Where validated rule bases and compiled decision diagrams are kept between runs:
    `$LLM_ADVISOR_CACHE_DIR`, else the user cache directory."""
    from llm_advisor.cli.dirs import user_dir

    return user_dir("cache", CACHE_ENV)


def load_kb(rules_dir: Path | None) -> KnowledgeBase:
    from llm_advisor.engine.language.loader import load_knowledge_base

    return load_knowledge_base(rules_dir, cache_dir())


def read_case(kb: KnowledgeBase, fact_args: tuple[str, ...], facts_file: str | None) -> Case:
    """The case of a command's facts: a facts file and `--fact` assignments (the latter win).
    An unknown name or bad value read from the file is a `LocatedInputError` naming the file and
    its line, so that a user can find it there."""
    from llm_advisor.engine.errors import LocatedInputError
    from llm_advisor.engine.language.facts import make_case

    raw: dict[str, object] = {}
    lines: dict[str, int] = {}
    if facts_file is not None:
        doc = read_facts_file(facts_file)
        raw.update(doc)
        lines.update(doc.key_lines)
    assigned = parse_assignments(fact_args)
    raw.update(assigned)
    for name in assigned:
        lines.pop(name, None)  # given on the command line, not read from the file
    try:
        for name in sorted(lines, key=lines.__getitem__):  # the file's first bad fact first
            make_case(kb, {name: raw[name]}, use_defaults=False)
        return make_case(kb, raw)
    except InputError as err:
        line = lines.get(err.item) if err.item is not None else None
        if facts_file is None or line is None:
            raise
        label = _facts_label(facts_file)
        raise LocatedInputError(str(err), file=label, line=line, item=err.item) from None


def _facts_label(name: str) -> str:
    """How errors name a facts file: as given, or `<stdin>` for `-`."""
    return "<stdin>" if name == "-" else name


def read_facts_file(name: str) -> SourceMapping:
    """A facts file: a mapping from fact name to value (with the line of each), in YAML, or in
    JSON checked as JSON when the file is named `.json` (standard input is read as YAML, which
    JSON also is)."""
    from llm_advisor.engine.errors import LocatedInputError, RuleError
    from llm_advisor.engine.language.facts import dont_know_hint, is_empty
    from llm_advisor.engine.language.source import Mapping, parse

    label = _facts_label(name)
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as err:
        raise InputError(
            f"cannot read facts file {label}: {err.strerror or err}", item=label
        ) from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
        if name != "-" and name.lower().endswith(".json"):
            _check_json(text, label)
        doc = parse(text, label)
    except UnicodeDecodeError:
        raise InputError(f"facts file {label} is not valid UTF-8", item=label) from None
    except RuleError as err:
        raise LocatedInputError(
            f"malformed facts file: {err.detail}", file=err.file, line=err.line, item=label
        ) from None
    if not isinstance(doc, Mapping):
        raise InputError(f"facts file {label} must be a mapping of fact name to value", item=label)
    for key, value in doc.items():
        line = doc.key_lines[key]
        if is_empty(value):
            hint = dont_know_hint(str(key), f"{key}: unknown")
            raise LocatedInputError(
                f"fact {key!r} has no value: {hint}", file=label, line=line, item=key
            )
        if isinstance(value, dict | list):
            raise LocatedInputError(
                f"fact {key!r} needs a single value", file=label, line=line, item=key
            )
    return doc


def _check_json(text: str, label: str) -> None:
    """Refuse a `.json` facts file that is not JSON (a trailing comma, NaN), naming the line;
    the file is then read like a YAML one, which every JSON text also is."""
    import json

    from llm_advisor.engine.errors import LocatedInputError

    def constant(word: str) -> object:
        raise ValueError(f"{word} is not a JSON number")

    try:
        json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as err:
        raise LocatedInputError(
            f"malformed facts file: JSON syntax: {err.msg}", file=label, line=err.lineno, item=label
        ) from None
    except (ValueError, RecursionError) as err:
        why = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise InputError(f"{label}: malformed facts file: {why}", item=label) from None


def parse_assignment(text: str, option: str = "--fact") -> tuple[str, str]:
    """Split a `NAME=VALUE` option value; an empty value is bad input."""
    from llm_advisor.engine.language.facts import dont_know_hint, is_empty

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InputError(f"expected NAME=VALUE, got {text!r}", item=text)
    name = name.strip()
    if is_empty(value):
        hint = dont_know_hint(name, f"{name}=unknown")
        raise InputError(f"{option} {name}= has no value: {hint}", item=name)
    return name, value.strip()


def parse_assignments(texts: Iterable[str], option: str = "--fact") -> dict[str, str]:
    """`NAME=VALUE` assignments as a mapping; the same name with two values is bad input."""
    values: dict[str, str] = {}
    for text in texts:
        name, value = parse_assignment(text, option)
        if values.get(name, value) != value:
            raise InputError(
                f"{option} {name} given twice, as {values[name]!r} and {value!r}", item=name
            )
        values[name] = value
    return values
