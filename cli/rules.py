"""`llm-advisor rules`: list, show and describe the rule base."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.options import json_option, load_kb, rules_option
from cli.report import effect_text
from engine.errors import InputError
from engine.model import DerivedTest, FactTest, KnowledgeBase, Literal_


@click.group()
def rules() -> None:
    """Inspect the rule base."""


def describe_literal(kb: KnowledgeBase, lit: Literal_) -> str:
    from engine.facts import display_value

    if isinstance(lit, DerivedTest):
        return lit.name if lit.value else f"not {lit.name}"
    assert isinstance(lit, FactTest)
    fact = kb.fact(lit.fact)
    if lit.op == "in":
        shown = [display_value(fact, v) for v in lit.values]
        return f"{lit.fact} = {shown[0]}" if len(shown) == 1 else f"{lit.fact} in {{{', '.join(shown)}}}"
    return f"{lit.fact} {'<' if lit.op == 'lt' else '>='} {display_value(fact, lit.threshold)}"


def describe_condition(kb: KnowledgeBase, alternatives: tuple[tuple[Literal_, ...], ...]) -> str:
    if not alternatives:
        return "never"
    parts = [" and ".join(describe_literal(kb, lit) for lit in alt) or "always" for alt in alternatives]
    return parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)


@rules.command("list")
@rules_option
@json_option
def list_rules(rules_dir: Path | None, as_json: bool) -> None:
    """List every rule: id, title and where it is defined."""
    kb = load_kb(rules_dir)
    if as_json:
        rows = [{"id": r.id, "title": r.title, "location": r.location, "source": r.source} for r in kb.rules]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r.id) for r in kb.rules) if kb.rules else 0
    for rule in kb.rules:
        click.echo(f"{rule.id:<{width}}  {rule.title}  [{rule.location}]")
    click.echo(f"{len(kb.rules)} rules, fingerprint {kb.fingerprint[:12]}")


@rules.command("show")
@click.argument("rule_id")
@rules_option
@json_option
def show_rule(rule_id: str, rules_dir: Path | None, as_json: bool) -> None:
    """Show one rule: condition, effects, rationale, source and location."""
    kb = load_kb(rules_dir)
    try:
        rule = kb.rule(rule_id)
    except StopIteration:
        raise InputError(f"unknown rule id {rule_id!r} (see 'llm-advisor rules list')", item=rule_id) from None
    source = kb.source(rule.source) if rule.source else None
    if as_json:
        from cli.report import effect_json

        click.echo(json.dumps({
            "id": rule.id, "title": rule.title, "location": rule.location,
            "when": describe_condition(kb, rule.alternatives),
            "effects": [effect_json(e) for e in rule.effects],
            "because": rule.because, "source": rule.source,
            "source_title": source.title if source else None,
            "source_url": source.url if source else None,
        }, indent=2, ensure_ascii=False))
        return
    click.echo(click.style(f"{rule.id}: {rule.title}", bold=True))
    click.echo(f"  defined at: {rule.location}")
    click.echo(f"  when:       {describe_condition(kb, rule.alternatives)}")
    click.echo(f"  then:       {', '.join(effect_text(e) for e in rule.effects)}")
    for effect in rule.effects:
        if hasattr(effect, "reason"):
            click.echo(f"              ({effect.approach}: {effect.reason})")
        if hasattr(effect, "text"):
            click.echo(f"              advice: {effect.text}")
    click.echo(f"  because:    {rule.because or '(missing)'}")
    if source:
        click.echo(f"  source:     {source.title}" + (f" <{source.url}>" if source.url else ""))


@rules.command("schema")
def schema() -> None:
    """Print a JSON Schema of the rule files (for editors' YAML validation)."""
    from engine.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))
