"""Load and validate a rule base into a `KnowledgeBase`.

Every problem is a `RuleError` naming the file and line: YAML syntax, unknown keys, unknown facts
or values, type mismatches, bad quantities, duplicate ids, unknown sources, derivation cycles."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from llm_advisor.engine.errors import InputError, RuleError
from llm_advisor.engine.language.model import (
    Invariant,
    KnowledgeBase,
    Rule,
    RuleFile,
)

SCHEMA_FILES = ("facts.yaml", "approaches.yaml", "sources.yaml")
INVARIANTS_FILE = "invariants.yaml"
"""Optional: the properties every case must satisfy, proven by `rules check`."""


def default_rules_dir() -> Path:
    """The rule base shipped with the package: the folder of `llm_advisor.rules` (found without
    `importlib.resources`, whose zip support costs a tenth of a cold start)."""
    from llm_advisor import rules

    return Path(rules.__file__ or "").parent


def fingerprint(files: tuple[RuleFile, ...]) -> str:
    import hashlib  # not needed by a rule base read back from the cache

    digest = hashlib.sha256()
    for rule_file in sorted(files, key=lambda rf: rf.name):
        digest.update(rule_file.name.encode() + b"\0" + rule_file.content + b"\0")
    return digest.hexdigest()


class RuleBaseSource(Protocol):
    """Where the files of a rule base come from (GoRules zen's `DecisionLoader` is the model):
    a directory, files held in memory, or a record's stored rule base in the audit store."""

    @property
    def where(self) -> str:
        """What messages call the rule base (its directory, or where it is stored)."""
        ...

    def files(self) -> tuple[RuleFile, ...]:
        """Its files, every schema file among them; `InputError` when it has none to give."""
        ...


@dataclass(frozen=True)
class DirectorySource:
    """The `*.yaml` files of a rule base directory."""

    path: Path

    @property
    def where(self) -> str:
        return str(self.path)

    def files(self) -> tuple[RuleFile, ...]:
        root = self.path
        if not root.is_dir():
            why = "a file, not a directory" if root.exists() else "no such directory"
            raise InputError(f"{root}: not a rule base directory ({why})", item=str(root))
        for name in SCHEMA_FILES:
            if not (root / name).is_file():
                raise InputError(
                    f"{root / name}: missing (every rule base needs {', '.join(SCHEMA_FILES)})",
                    item=name,
                )
        return tuple(_read(path) for path in sorted(root.glob("*.yaml")))


@dataclass(frozen=True)
class MemorySource:
    """Rule files held in memory, called `where` in messages."""

    rule_files: tuple[RuleFile, ...]
    where: str

    def files(self) -> tuple[RuleFile, ...]:
        for name in SCHEMA_FILES:
            if name not in {f.name for f in self.rule_files}:
                raise InputError(
                    f"{self.where}: {name} missing (every rule base needs {', '.join(SCHEMA_FILES)})",
                    item=name,
                )
        return tuple(sorted(self.rule_files, key=lambda f: f.name))


def load(source: RuleBaseSource, cache_dir: Path | None = None) -> KnowledgeBase:
    """Load, validate and index a rule base; with a `cache_dir`, one validated before is read
    back from there."""
    files = source.files()
    if cache_dir is None:
        return _validated(files, source.where)
    from llm_advisor.engine.language.cache import cached_knowledge_base

    return cached_knowledge_base(files, source.where, cache_dir, _validated)


def load_knowledge_base(
    directory: Path | str | None = None, cache_dir: Path | None = None
) -> KnowledgeBase:
    """The rule base in `directory` (default: the shipped one); see `load`."""
    root = Path(directory) if directory is not None else default_rules_dir()
    return load(DirectorySource(root), cache_dir)


def _read(path: Path) -> RuleFile:
    try:
        return RuleFile(path.name, path.read_bytes())
    except OSError as err:
        raise RuleError(path.name, 1, f"cannot read: {err.strerror or err}") from None


def _validated(files: tuple[RuleFile, ...], where: str) -> KnowledgeBase:
    """Parse every file, then validate and index the whole."""
    from llm_advisor.engine.language.source import parse_bytes

    docs = {rule_file.name: parse_bytes(rule_file.content, rule_file.name) for rule_file in files}
    return _knowledge_base(docs, files, where)


def _knowledge_base(docs: dict[str, Any], files: tuple[RuleFile, ...], where: str) -> KnowledgeBase:
    """A knowledge base from the parsed documents of its files, by file name."""
    # Validation is imported only when a rule base is validated (not when it comes from a cache).
    from llm_advisor.engine.language.checks import RuleFileChecker
    from llm_advisor.engine.language.declarations import load_approaches, load_facts, load_sources
    from llm_advisor.engine.language.invariants import load_invariants
    from llm_advisor.engine.language.rules import RuleReader
    from llm_advisor.engine.language.strata import check_derived_known, strata_of

    names = sorted(docs)
    facts = load_facts(RuleFileChecker("facts.yaml"), docs["facts.yaml"])
    approaches, tie_break = load_approaches(
        RuleFileChecker("approaches.yaml"), docs["approaches.yaml"]
    )
    sources = load_sources(RuleFileChecker("sources.yaml"), docs["sources.yaml"])
    fact_map = {fact.name: fact for fact in facts}
    approach_ids = tuple(a.id for a in approaches)
    source_keys = {s.key for s in sources}
    rules: list[Rule] = []
    seen: dict[str, Rule] = {}
    for name in names:
        if name in SCHEMA_FILES or name == INVARIANTS_FILE:
            continue
        f = RuleFileChecker(name)
        reader = RuleReader(f, fact_map, approach_ids, source_keys)
        for node, line in f.items(f.top(docs[name], "rules"), "'rules'", 1):
            rule = reader.rule(node, line)
            if rule.id in seen:
                raise f.error(
                    line, f"duplicate rule id {rule.id!r} (first at {seen[rule.id].location})"
                )
            seen[rule.id] = rule
            rules.append(rule)
    produced = {name for rule in rules for name in rule.derives}
    for rule in rules:
        check_derived_known(rule.file, rule.when, produced)
    invariants: tuple[Invariant, ...] = ()
    if INVARIANTS_FILE in docs:
        f = RuleFileChecker(INVARIANTS_FILE)
        reader = RuleReader(f, fact_map, approach_ids, source_keys)
        invariants = load_invariants(f, docs[INVARIANTS_FILE], reader, produced)
        for inv in invariants:  # `rules show ID` shows either, so an id names one thing
            if inv.id in seen:
                raise f.error(
                    inv.line, f"invariant id {inv.id!r} is also a rule id ({seen[inv.id].location})"
                )
    strata = strata_of(rules)
    level = {name: s for s, names in enumerate(strata) for name in names}
    ranked = [
        replace(rule, stratum=1 + max((level.get(d, -1) for d in rule.derived_used), default=-1))
        for rule in rules
    ]
    return KnowledgeBase(
        facts=facts,
        approaches=approaches,
        sources=sources,
        tie_break=tie_break,
        rules=tuple(ranked),
        files=files,
        fingerprint=fingerprint(files),
        directory=where,
        derived=tuple(name for names in strata for name in names),
        strata=strata,
        invariants=invariants,
    )
