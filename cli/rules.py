"""`llm-advisor rules`: list, show and describe the rule base."""

from __future__ import annotations

import json
from pathlib import Path

import click

from llm_advisor.cli.options import cache_dir, json_option, load_kb, rules_option
from llm_advisor.cli.wording import listed, plural
from llm_advisor.engine.errors import InputError, RuleError
from llm_advisor.engine.language.effects import Advise, Exclude, Technique
from llm_advisor.engine.language.facts import unknown_fact
from llm_advisor.engine.language.model import (
    DerivedTest,
    FactTest,
    Invariant,
    KnowledgeBase,
    Literal_,
    Rule,
)

MAX_CROSS_CHECK = 1_000_000
"""Sampled cases `rules check --cross-check` takes at most: a larger number is a typo, not a
run of hours."""


@click.group()
def rules() -> None:
    """Inspect the rule base."""


def describe_literal(kb: KnowledgeBase, lit: Literal_) -> str:
    from llm_advisor.engine.language.facts import display_value

    if isinstance(lit, DerivedTest):
        return lit.name if lit.value else f"not {lit.name}"
    assert isinstance(lit, FactTest)
    fact = kb.fact(lit.fact)
    if lit.op == "in":
        shown = [display_value(fact, v) for v in lit.values]
        return (
            f"{lit.fact} = {shown[0]}"
            if len(shown) == 1
            else f"{lit.fact} in {{{', '.join(shown)}}}"
        )
    return f"{lit.fact} {'<' if lit.op == 'lt' else '>='} {display_value(fact, lit.threshold)}"


def describe_condition(kb: KnowledgeBase, alternatives: tuple[tuple[Literal_, ...], ...]) -> str:
    if not alternatives:
        return "never"
    parts = [
        " and ".join(describe_literal(kb, lit) for lit in alt) or "always" for alt in alternatives
    ]
    return parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)


@rules.command("list")
@rules_option
@json_option
@click.option(
    "--fact",
    "fact_names",
    metavar="NAME",
    multiple=True,
    help="Only the rules whose condition tests this fact (repeatable: any of them).",
)
def list_rules(rules_dir: Path | None, as_json: bool, fact_names: tuple[str, ...]) -> None:
    """List every rule (or those testing some facts): id, title and where it is defined."""
    kb = load_kb(rules_dir)
    names = tuple(dict.fromkeys(fact_names))  # each fact once, in the order given
    shown = _testing(kb, names) if names else kb.rules
    if as_json:
        rows = [
            {"id": r.id, "title": r.title, "location": r.location, "source": r.source}
            for r in shown
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r.id) for r in shown), default=0)
    for rule in shown:
        click.echo(f"{rule.id:<{width}}  {rule.title}  [{rule.location}]")
    testing = f" testing {listed(names, 'or')}" if names else ""
    click.echo(f"{plural(len(shown), 'rule')}{testing}, fingerprint {kb.fingerprint[:12]}")


def _testing(kb: KnowledgeBase, fact_names: tuple[str, ...]) -> tuple[Rule, ...]:
    """The rules with a condition on any of `fact_names`, in rule-base order, each once (not
    those that only test a conclusion drawn from them); an unknown fact is bad input."""
    for name in fact_names:
        if name not in kb.fact_names:
            drawn = any(name in rule.derives for rule in kb.rules)
            raise unknown_fact(
                kb, name, f"{name!r} is a conclusion the rules draw, not a fact" if drawn else ""
            )
    return tuple(rule for rule in kb.rules if any(n in rule.facts_used for n in fact_names))


@rules.command("show")
@click.argument("rule_id")
@rules_option
@json_option
def show_rule(rule_id: str, rules_dir: Path | None, as_json: bool) -> None:
    """Show one rule (condition, effects, rationale, source and location) or one invariant
    (what it states and where it is declared)."""
    from llm_advisor.cli.report import effect_text  # it loads inference: only this command

    kb = load_kb(rules_dir)
    invariant = next((i for i in kb.invariants if i.id == rule_id), None)
    if invariant is not None:
        show_invariant(kb, invariant, as_json)
        return
    try:
        rule = kb.rule(rule_id)
    except StopIteration:
        raise InputError(
            f"unknown rule or invariant id {rule_id!r} (see 'llm-advisor rules list' and"
            " 'llm-advisor rules check')",
            item=rule_id,
        ) from None
    source = kb.source(rule.source) if rule.source else None
    if as_json:
        from llm_advisor.engine.language.effects import effect_json

        click.echo(
            json.dumps(
                {
                    "id": rule.id,
                    "title": rule.title,
                    "location": rule.location,
                    "when": describe_condition(kb, rule.alternatives),
                    "effects": [effect_json(e) for e in rule.effects],
                    "because": rule.because,
                    "source": rule.source,
                    "source_title": source.title if source else None,
                    "source_url": source.url if source else None,
                    "source_reference": source.reference if source else None,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    click.echo(click.style(f"{rule.id}: {rule.title}", bold=True))
    click.echo(f"  defined at: {rule.location}")
    click.echo(f"  when:       {describe_condition(kb, rule.alternatives)}")
    click.echo(f"  then:       {', '.join(effect_text(e) for e in rule.effects)}")
    for effect in rule.effects:
        if isinstance(effect, Exclude):
            click.echo(f"              ({effect.approach}: {effect.reason})")
        elif isinstance(effect, Advise):
            click.echo(f"              advice: {effect.text}")
            for word, approaches in (
                ("favours", effect.favours),
                ("rules out", effect.rules_out),
                ("is shown only with", effect.shown_with),
                ("is shown only without", effect.shown_without),
            ):
                if approaches:
                    click.echo(f"              (the advice {word} {', '.join(approaches)})")
        elif isinstance(effect, Technique):
            click.echo(f"              technique for {effect.approach}: {effect.name}")
    click.echo(f"  because:    {rule.because or '(missing)'}")
    if source:
        click.echo(f"  source:     {source.reference}")


def invariant_statement(kb: KnowledgeBase, invariant: Invariant) -> str:
    """What an invariant states, in words."""
    where = describe_condition(kb, invariant.when)
    return {
        "partners_at_least": "every suggested partner is not excluded and scores at least"
        f" {invariant.bound}",
        "advice_agrees": "no advice shown rules out the recommendation or a partner, and advice"
        " that favours approaches names the recommendation or a partner",
        "no_flip_back": f"raising {invariant.fact} alone never makes the recommendation go"
        " A -> B -> A",
        "never": f"{invariant.approach} is neither recommended nor a partner where {where}",
        "always": f"{invariant.approach} is recommended or a partner wherever {where}",
    }[invariant.kind]


def show_invariant(kb: KnowledgeBase, invariant: Invariant, as_json: bool) -> None:
    statement = invariant_statement(kb, invariant)
    if as_json:
        shown = {
            "id": invariant.id,
            "title": invariant.title,
            "location": invariant.location,
            "invariant": invariant.kind,
            "states": statement,
        }
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    click.echo(click.style(f"{invariant.id}: {invariant.title}", bold=True))
    click.echo(f"  defined at: {invariant.location}")
    click.echo(f"  invariant:  {statement}")
    click.echo("  proven by:  llm-advisor rules check (over every case)")


@rules.command("schema")
def schema() -> None:
    """Print a JSON Schema of the rule files (for editors' YAML validation)."""
    from llm_advisor.engine.language.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@rules.command("check")
@rules_option
@json_option
@click.option(
    "--cross-check",
    "cross",
    type=click.IntRange(min=0, max=MAX_CROSS_CHECK),
    default=0,
    metavar="N",
    help="Also compare inference with the decision diagram on N sampled cases.",
)
@click.option("--seed", type=int, default=0, help="Seed for --cross-check sampling.")
def check_rules(rules_dir: Path | None, as_json: bool, cross: int, seed: int) -> None:
    """Verify the rule base: dead rules, all-excluded regions, missing sources, and more.

    Also proves the invariants declared in invariants.yaml over every case and prints one
    witness case per violated invariant. Exits with 1 when an error-level finding exists.
    """
    from llm_advisor.engine.analysis.verification import check_rule_base

    kb = load_kb(rules_dir)
    report = check_rule_base(kb, cross=cross, seed=seed, cache_dir=cache_dir())
    proof = report.invariants
    if as_json:
        click.echo(
            json.dumps(
                {
                    "fingerprint": kb.fingerprint,
                    "errors": report.errors,
                    "warnings": report.warnings,
                    "cross_checked": report.cross_checked,
                    "invariants": {
                        "cases": proof.cases,
                        "declared": len(proof.results),
                        "violated": len(proof.violated),
                        "results": [
                            {"id": r.invariant.id, "title": r.invariant.title, "holds": r.holds}
                            for r in proof.results
                        ],
                    },
                    "findings": [
                        {
                            "level": f.level,
                            "kind": f.kind,
                            "message": f.message,
                            "rule": f.rule,
                            "location": f.location,
                            "example": dict(f.example) or None,
                        }
                        for f in report.findings
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        for f in report.findings:
            where = f"{f.location}: " if f.location else ""
            click.echo(f"{where}{f.level}: {f.message} [{f.kind}]")
            if f.example:
                click.echo("    example: " + ", ".join(f"{k}={v}" for k, v in f.example))
        summary = (
            f"{plural(len(kb.rules), 'rule')} checked: {plural(report.errors, 'error')}, "
            f"{plural(report.warnings, 'warning')}"
        )
        if proof.results:
            summary += (
                f"; {len(proof.results)} invariants"
                f" {'checked' if proof.violated else 'proven'} over all {proof.cases:,} cases,"
                f" violations: {len(proof.violated)}"
            )
        if report.cross_checked:
            summary += f"; inference and diagram compared on {report.cross_checked} sampled cases"
        click.echo(summary)
    if report.errors:
        raise click.exceptions.Exit(1)


@rules.command("diff")
@click.argument("old_dir", type=click.Path(path_type=Path))
@click.argument("new_dir", type=click.Path(path_type=Path))
@json_option
@click.option(
    "--examples",
    type=click.IntRange(min=1),
    default=20,
    help="Regions to show at most (the largest first).",
)
def diff_rules(old_dir: Path, new_dir: Path, as_json: bool, examples: int) -> None:
    """Show which regions of the fact space change recommendation between two rule bases.

    Facts or enum values only one of them declares are compared across (that rule base never
    tests them) and named; a fact whose type, unit or value order differs is refused.
    """
    from llm_advisor.engine.analysis.diff import diff

    old, new = _load_named(old_dir), _load_named(new_dir)
    result = diff(old, new, cache_dir())

    def outcome(d: object) -> str:
        rec = getattr(d, "recommendation", None) or "none"
        combo = getattr(d, "combine_with", ())
        return rec + (f" + {', '.join(combo)}" if combo else "")

    if as_json:
        click.echo(
            json.dumps(
                {
                    "old": old.fingerprint,
                    "new": new.fingerprint,
                    "cases": result.total,
                    "changed_cases": result.changed,
                    "regions": len(result.regions),
                    "schema_differences": [
                        {"fact": fact, "difference": what} for fact, what in result.schema
                    ],
                    "changes": [
                        {
                            "conditions": {f: list(c) for f, c in r.conditions},
                            "cases": r.size,
                            "old": {
                                "recommendation": r.old.recommendation,
                                "combine_with": list(r.old.combine_with),
                            },
                            "new": {
                                "recommendation": r.new.recommendation,
                                "combine_with": list(r.new.combine_with),
                            },
                            "example": dict(r.example),
                        }
                        for r in result.regions
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    share = 100 * result.changed / result.total if result.total else 0
    click.echo(
        f"{result.changed:,} of {result.total:,} cases ({share:.2f}%) change outcome, "
        f"in {plural(len(result.regions), 'region')}"
    )
    if result.schema:
        click.echo(
            "schemas differ (a rule base never tests a fact or value it lacks): "
            + "; ".join(what for _, what in result.schema)
        )
    for r in result.regions[:examples]:
        where = "; ".join(f"{f} in {{{', '.join(c)}}}" for f, c in r.conditions) or "everywhere"
        click.echo(
            f"  {outcome(r.old)} -> {outcome(r.new)}  ({plural(r.size, 'case')}) when {where}"
        )
        click.echo("      e.g. " + ", ".join(f"{k}={v}" for k, v in r.example))
    if len(result.regions) > examples:
        more = len(result.regions) - examples
        click.echo(f"  ... and {more:,} more regions (--examples, --json)")


def _load_named(directory: Path) -> KnowledgeBase:
    """Load one of two rule bases; an error in a rule file names its directory too."""
    try:
        return load_kb(directory)
    except RuleError as err:
        raise RuleError(str(directory / err.file), err.line, err.detail) from None
