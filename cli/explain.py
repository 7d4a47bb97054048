"""`llm-advisor explain`: HOW a recommendation was reached, WHY NOT the others, what would change it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from llm_advisor.cli.options import (
    audit_db_option,
    fact_option,
    facts_file_option,
    json_option,
    load_kb,
    read_case,
    rules_option,
)
from llm_advisor.cli.wording import json_number, listed, plural
from llm_advisor.engine.errors import InputError

if TYPE_CHECKING:
    from llm_advisor.engine.analysis.explanation import Contribution, Explanation
    from llm_advisor.engine.analysis.what_if import Counterfactual, WhatIf
    from llm_advisor.engine.language.facts import Case
    from llm_advisor.engine.language.model import KnowledgeBase

MAX_SHOWN = 12
"""Counterfactuals listed in the text output (JSON lists all of them)."""
KIND_ORDER = ("step", "not_given", "situation")
"""The order the text output lists what-ifs in: steps a team can take first."""


def approach_name(kb: KnowledgeBase, approach_id: str | None) -> str:
    if approach_id is None:
        return "no approach (all excluded)"
    return kb.approach_name(approach_id)


def outcome_text(
    kb: KnowledgeBase, recommendation: str | None, combine_with: tuple[str, ...]
) -> str:
    text = approach_name(kb, recommendation)
    return text + "".join(f" + {approach_name(kb, a)}" for a in combine_with)


def counterfactual_json(kb: KnowledgeBase, cf: Counterfactual, case: Case) -> dict[str, Any]:
    from llm_advisor.engine.language.facts import display_value

    changes = []
    for c in cf.changes:
        before = case.get(c.fact)
        changes.append(
            {
                "fact": c.fact,
                "from": display_value(kb.fact(c.fact), before) if before is not None else None,
                "to": c.label,
                "value": json_number(c.value),
            }
        )
    return {
        "set": changes,
        "actionable": cf.actionable,
        "recommendation": cf.recommendation,
        "combine_with": list(cf.combine_with),
    }


def explanation_json(
    kb: KnowledgeBase, ex: Explanation, audit_id: str | None = None
) -> dict[str, Any]:
    """The explanation as one JSON object."""
    from llm_advisor.cli.report import facts_json, firing_json, pending_json, undecided

    result = ex.result
    pending = undecided(kb, result)
    titles = {r.id: r.title for r in kb.rules}
    sizes = {len(cf.changes) for cf in ex.counterfactuals}

    def contribution_json(c: Contribution) -> dict[str, Any]:
        return {
            "rule": c.rule_id,
            "title": titles[c.rule_id],
            "winner_delta": c.winner_delta,
            "delta": c.other_delta,
            "margin": c.margin,
        }

    return {
        "audit_id": audit_id,
        "recommendation": result.recommendation,
        "combine_with": list(result.combine_with),
        **pending_json(pending),
        "rulebase": {"fingerprint": kb.fingerprint, "directory": kb.directory},
        "facts": facts_json(kb, result),
        "how": [
            {
                **firing_json(kb, step.firing),
                "derives": list(step.derives),
                "supported_by": list(step.supported_by),
            }
            for step in ex.how
        ],
        "why_not": [
            {
                "approach": w.approach,
                "partner": w.approach in result.combine_with,
                "score": w.score,
                "winner_score": w.winner_score,
                "behind": None if w.winner_score is None else w.winner_score - w.score,
                "excluded": bool(w.excluded_by),
                "excluded_by": [{"rule": r, "reason": reason} for r, reason in w.excluded_by],
                "held_back": [contribution_json(c) for c in w.held_back],
                "favoured_by": [contribution_json(c) for c in w.favoured_by],
                "lost_tie": w.lost_tie,
                "partner_dropped_by": list(w.partner_dropped_by),
                "partnered_by": list(w.partnered_by),
            }
            for w in ex.why_not
        ],
        "counterfactuals": {
            "facts_changed": min(sizes) if sizes else None,
            "complete": ex.searched,
            "evaluated": ex.evaluated,
            "changes": [counterfactual_json(kb, cf, result.case) for cf in ex.counterfactuals],
        },
    }


def print_what_if(kb: KnowledgeBase, ex: Explanation) -> None:
    """Print the counterfactuals: the smallest fact changes that change the recommendation, those
    a team can make first, then those that only give facts not given yet, then a different
    situation; changes with the same outcome on one line."""
    from llm_advisor.engine.language.facts import display_value

    echo = click.echo
    case = ex.result.case

    def change(w: WhatIf, fact: str, to: str) -> str:
        before = case.get(fact)
        shown = display_value(kb.fact(fact), before) if before is not None else "unknown"
        return f"{fact}: {shown} -> {to}" + (" once measured" if fact in w.measured else "")

    headings = {
        "not_given": "  If facts not given yet have these values:",
        "situation": "  If the situation itself were different (facts the team cannot change, "
        "less of what it has, or far more):",
    }
    echo(click.style("What would change the recommendation", bold=True))
    # stable: the search's order within a group
    ordered = sorted(ex.what_ifs, key=lambda w: KIND_ORDER.index(w.kind))
    # true: the search (counterfactuals) tries pairs of steps wherever no one-fact step exists
    if ex.what_ifs and not any(w.actionable for w in ex.what_ifs):
        echo("  no change the team can make to one or two facts changes it")
    under = "step"
    for w in ordered[:MAX_SHOWN]:
        if w.kind != under:
            under = w.kind
            echo(headings[under])
        parts = [change(w, fact, label) for fact, label in w.changes]
        outcome = outcome_text(kb, w.recommendation, w.combine_with)
        if {w.recommendation, *w.combine_with} == set(ex.result.plan):
            outcome += f" (the same approaches, {approach_name(kb, w.recommendation)} leading)"
        indent = "  " if under != "step" else ""
        echo(f"  {indent}{' and '.join(parts)}  =>  {outcome}")
    if len(ex.what_ifs) > MAX_SHOWN:
        echo(f"  ... and {plural(len(ex.what_ifs) - MAX_SHOWN, 'more change')} (see --json)")
    if not ex.counterfactuals:
        echo(
            "  no change of one or two facts changes it"
            + ("" if ex.searched else " (search cut short)")
        )
    else:
        echo(f"  (each confirmed by inference; {plural(ex.evaluated, 'case')} evaluated)")


def print_explanation(kb: KnowledgeBase, ex: Explanation) -> None:
    """Print HOW, WHY NOT and the counterfactuals for people."""
    from llm_advisor.cli.report import (
        effect_text,
        print_facts,
        provisional_lines,
        tie_goes_to,
        undecided,
    )
    from llm_advisor.engine.language.facts import display_value

    echo = click.echo
    result = ex.result

    def bold(text: str) -> str:
        return click.style(text, bold=True)

    echo(bold(f"Recommendation: {outcome_text(kb, result.recommendation, result.combine_with)}"))
    for line in provisional_lines(kb, result, undecided(kb, result)):
        echo(f"  {line}")
    echo()
    echo(bold("How the rules reached it"))
    for number, step in enumerate(ex.how, 1):
        rule = kb.rule(step.firing.rule_id)
        effects = ", ".join(effect_text(e) for e in rule.effects)
        echo(f"  {number:>2}. {rule.id}: {rule.title}  ({effects})  [{rule.location}]")
        matched = [f"{n}={display_value(kb.fact(n), v)}" for n, v in step.firing.matched]
        matched += [f"{n}={'yes' if v else 'no'}" for n, v in step.firing.matched_derived]
        echo(f"      matched: {', '.join(matched) or 'always'}")
        if step.supported_by:
            echo(f"      resting on: {', '.join(step.supported_by)}")
        if rule.because:
            echo(f"      because: {rule.because}")
        if rule.source:
            echo(f"      source: {kb.source(rule.source).reference}")
    if not ex.how:
        echo("  (no rule scored, excluded or combined anything)")
    echo()
    echo(bold("Why not the others"))
    winner = approach_name(kb, result.recommendation)
    lowest_partner = min(
        (r.score for r in result.ranking if r.approach in result.combine_with), default=None
    )
    for w in ex.why_not:
        name = approach_name(kb, w.approach)
        role = " (the partner)" if w.approach in result.combine_with else ""
        if len(w.excluded_by) == 1:
            rule_id, reason = w.excluded_by[0]
            echo(f"  {name}: excluded by {rule_id}: {reason}")
        elif w.excluded_by:
            echo(f"  {name}: excluded by")
            for rule_id, reason in w.excluded_by:
                echo(f"      {rule_id}: {reason}")
        elif w.winner_score is None:
            echo(f"  {name}: score {w.score:+d}")
        else:
            gap = w.winner_score - w.score
            if w.lost_tie:
                echo(f"  {name}{role}: same score ({w.score:+d}); {tie_goes_to(kb)}")
            else:
                echo(f"  {name}{role}: score {w.score:+d}, {gap} behind")
            for side, contributions in ((winner, w.held_back), (name, w.favoured_by)):
                if contributions:
                    echo(f"      for {side}:")
                for c in contributions:
                    echo(
                        f"        {c.rule_id}: {winner} {c.winner_delta:+d}, {name} {c.other_delta:+d}"
                    )
        if w.partner_dropped_by:
            echo(
                f"      not a partner although {listed(w.partner_dropped_by)} suggested it: "
                "a partner must be neither excluded nor scored below zero"
            )
        elif w.partnered_by:
            echo(f"      a partner because {listed(w.partnered_by)} suggested it beside {winner}")
        elif not w.excluded_by and lowest_partner is not None and w.score > lowest_partner:
            echo(f"      not a partner: no rule that fired suggests it beside {winner}")
    if not ex.why_not:
        echo("  (there is no other approach)")
    echo()
    print_what_if(kb, ex)
    echo()
    print_facts(kb, result)


@click.command()
@click.argument("audit_id", required=False)
@fact_option
@facts_file_option
@json_option
@rules_option
@audit_db_option
def explain(
    audit_id: str | None,
    fact_args: tuple[str, ...],
    facts_file: str | None,
    as_json: bool,
    rules_dir: Path | None,
    audit_db: str | None,
) -> None:
    """Explain a recommendation: how, why not, and what would change it.

    Give the id of an audit record (its stored facts and rules; with --rules, those rules), or
    facts as for `recommend`.

    \b
    Examples:
      llm-advisor explain 3f9a2c
      llm-advisor explain --fact problem_type=knowledge --json
    """
    from llm_advisor.engine.analysis.explanation import explain as explain_result

    if audit_id is not None and (fact_args or facts_file is not None):
        raise InputError("give an audit id or facts (--fact/--facts), not both")
    if audit_id is None and not fact_args and facts_file is None:
        raise InputError("give an audit id, --fact NAME=VALUE or --facts FILE (see --help)")
    if audit_id is not None:
        from llm_advisor.cli.records import replayed

        kb, result, record = replayed(audit_id, audit_db, rules_dir)
        record_id: str | None = record.id
    else:
        from llm_advisor.engine.inference.run import evaluate

        kb = load_kb(rules_dir)
        result = evaluate(kb, read_case(kb, fact_args, facts_file))
        record_id = None
    ex = explain_result(kb, result)
    if as_json:
        click.echo(json.dumps(explanation_json(kb, ex, record_id), indent=2, ensure_ascii=False))
    else:
        if record_id is not None:
            click.echo(f"Audit record {record_id}")
        print_explanation(kb, ex)
