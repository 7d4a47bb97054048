"""Turning an inference result into the JSON object of the contract and into readable text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from llm_advisor.cli.wording import json_number, listed
from llm_advisor.engine.inference.reasons import key_firings
from llm_advisor.engine.inference.run import Firing, Result
from llm_advisor.engine.inference.technique import ChosenTechnique, choose
from llm_advisor.engine.language.effects import Combine, Derive, Effect, Exclude, Score, Technique
from llm_advisor.engine.language.facts import display_value
from llm_advisor.engine.language.model import KnowledgeBase

if TYPE_CHECKING:
    from llm_advisor.engine.analysis.dependence import Dependence
    from llm_advisor.engine.analysis.what_if import Assumed

TOP_REASONS = 5


def effect_text(effect: Effect) -> str:
    if isinstance(effect, Derive):
        return f"derives {effect.name}"
    if isinstance(effect, Score):
        return f"{effect.approach} {effect.delta:+d}"
    if isinstance(effect, Exclude):
        return f"excludes {effect.approach}"
    if isinstance(effect, Combine):
        lead = " when it leads" if effect.lead_only else ""
        return f"suggests {effect.first} + {effect.second}{lead}"
    if isinstance(effect, Technique):
        return f"technique for {effect.approach}"
    return "advice"


def techniques(kb: KnowledgeBase, result: Result) -> list[ChosenTechnique]:
    """The technique of the recommendation and of each partner, where the rules name one."""
    values = dict(result.case.values)
    fired = [f.rule_id for f in result.firings]
    chosen = (choose(kb, fired, approach, values) for approach in result.plan)
    return [t for t in chosen if t is not None]


def technique_json(technique: ChosenTechnique) -> dict[str, Any]:
    return {
        "approach": technique.approach,
        "text": technique.text,
        "rule": technique.rule,
        "figures": dict(technique.figures),
    }


def firing_json(kb: KnowledgeBase, firing: Firing) -> dict[str, Any]:
    """A firing as the JSON output shows it: its encoding, with the values it matched as people
    type them and the full reference of its source."""
    from llm_advisor.engine.inference.codec import firing_to_json  # only for --json

    data = firing_to_json(kb, firing)
    data["matched"] = {name: display_value(kb.fact(name), value) for name, value in firing.matched}
    data["matched_derived"] = dict(firing.matched_derived)
    source = kb.source(data["source"]) if data["source"] else None
    data["source_title"] = source.title if source else None
    data["source_reference"] = source.reference if source else None
    return data


def facts_json(kb: KnowledgeBase, result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fact in kb.facts:
        value = result.case.get(fact.name)
        out[fact.name] = {
            "value": json_number(value),
            "display": display_value(fact, value) if value is not None else None,
            "status": result.case.status_of(fact.name),
        }
    return out


def result_json(kb: KnowledgeBase, result: Result, audit_id: str | None = None) -> dict[str, Any]:
    """The JSON object of `recommend --json` (the documented contract)."""
    chosen = kb.approach(result.recommendation) if result.recommendation else None
    found = techniques(kb, result)
    pending = undecided(kb, result)
    primary = next((t for t in found if t.approach == result.recommendation), None)
    return {
        "recommendation": result.recommendation,
        "combine_with": list(result.combine_with),
        **pending_json(pending),
        "depends_on_defaults": [
            {
                "fact": a.fact,
                "assumed": display_value(kb.fact(a.fact), a.default),
                "values": [c.label for c in a.values],
                "recommendation": a.recommendation,
                "combine_with": list(a.combine_with),
            }
            for a in on_defaults(kb, result)
        ],
        "technique": technique_json(primary) if primary else None,
        "techniques": [technique_json(t) for t in found],
        "ranking": [
            {
                "approach": r.approach,
                "score": r.score,
                "excluded": r.excluded,
                "reason": "; ".join(r.reasons) if r.reasons else None,
                "reasons": list(r.reasons),
            }
            for r in result.ranking
        ],
        "fired": [firing_json(kb, f) for f in result.firings],
        "derived": list(result.derived),
        "facts": facts_json(kb, result),
        "advice": list(result.advice),
        "caveats": [c.text for c in chosen.caveats_in(result.plan)] if chosen else [],
        "next_steps": list(chosen.next_steps) if chosen else [],
        "partners": [
            {
                "approach": partner.id,
                "caveats": [c.text for c in partner.caveats_in(result.plan)],
                "next_steps": list(partner.next_steps),
            }
            for partner in map(kb.approach, result.combine_with)
        ],
        "rulebase": {"fingerprint": kb.fingerprint, "directory": kb.directory},
        "audit_id": audit_id,
    }


def pending_json(pending: Dependence | None) -> dict[str, Any]:
    """Whether the outcome is decided, and if not, what it depends on and can still become."""
    return {
        "decided": pending is None,
        "depends_on_facts": list(pending.facts) if pending else [],
        "possible_outcomes": [
            {"recommendation": d.recommendation, "combine_with": list(d.combine_with)}
            for d in (pending.outcomes if pending else ())
        ],
    }


def undecided(kb: KnowledgeBase, result: Result) -> Dependence | None:
    """What the outcome still depends on, or None when it is decided. A case with every fact
    known is decided and loads no analysis."""
    if all(value is not None for _, value in result.case.values):
        return None
    from llm_advisor.engine.analysis.dependence import dependence

    found = dependence(kb, result)
    return found if found.facts else None


def on_defaults(kb: KnowledgeBase, result: Result) -> tuple[Assumed, ...]:
    """The facts assumed from their documented defaults whose other values change the plan; a
    case with no assumed fact loads no analysis."""
    if all(status != "defaulted" for _, status in result.case.status):
        return ()
    from llm_advisor.engine.analysis.what_if import on_defaults

    return on_defaults(kb, result)


def assumed_lines(kb: KnowledgeBase, assumed: tuple[Assumed, ...]) -> list[str]:
    """One line for each assumed default the plan rests on, with the values of it that would
    give another plan, so a reader knows which unstated answer to check first."""
    if not assumed:
        return []
    from llm_advisor.engine.analysis.what_if import value_range

    def outcome(a: Assumed) -> str:
        if a.recommendation is None:
            return "no approach would fit"
        partners = tuple(kb.approach_name(p) for p in a.combine_with)
        also = f", combined with {listed(partners)}" if partners else ""
        return f"it would be {kb.approach_name(a.recommendation)}{also}"

    by_fact: dict[str, list[Assumed]] = {}
    for a in assumed:
        by_fact.setdefault(a.fact, []).append(a)
    lines = []
    for name, items in by_fact.items():
        fact = kb.fact(name)
        now = display_value(fact, items[0].default)
        sign = " " if fact.kind.continuous else "="  # a band reads `size >= 1M`
        others = "; ".join(
            f"with {name}{sign}{value_range(fact, a.values)} {outcome(a)}" for a in items
        )
        lines.append(f"Assumes {name}={now} (documented default); {others}")
    return lines


def tied_with(kb: KnowledgeBase, result: Result) -> str | None:
    """Why the recommendation won where a rival outside the plan has the same score: the rule
    base's tie-break (None where nothing ties with it)."""
    rivals = tuple(kb.approach_name(a) for a in result.outcome.tied if a not in result.combine_with)
    if not rivals:
        return None
    verb = "has" if len(rivals) == 1 else "have"
    score = result.ranking[0].score
    return f"{listed(rivals)} {verb} the same score ({score:+d}); {tie_goes_to(kb)}"


def tie_goes_to(kb: KnowledgeBase) -> str:
    """How the rule base breaks a tie in score, worded once for the report and explain."""
    if kb.tie_break is None:
        return "the tie goes to the approach declared first"
    return f"the tie goes to the lower {kb.tie_break}"


def provisional_lines(kb: KnowledgeBase, result: Result, pending: Dependence | None) -> list[str]:
    """The lines that mark an outcome the unknown facts can still change (none when it is
    decided), with the outcomes they can still lead to, which need not include the one shown
    while they stay unknown."""
    if pending is None:
        return []
    from llm_advisor.diagrams.labels import outcome_names

    facts = ", ".join(pending.facts)
    lines = [f"Provisional: depends on {facts} (unknown)"]
    if pending.outcomes:
        names = outcome_names(kb, pending.outcomes)
        choices = names[0] if len(names) == 1 else "one of: " + "; ".join(names)
        one = len(pending.facts) == 1
        lines.append(f"Once {facts} {'is' if one else 'are'} known, the outcome is {choices}")
        now = (result.recommendation, result.combine_with)
        if all((d.recommendation, d.combine_with) != now for d in pending.outcomes):
            answers = "answer to" if one else "answers to"
            lines.append(
                f"No {answers} {facts} {'gives' if one else 'give'} the recommendation above"
            )
    return lines


def _heading(text: str) -> str:
    return click.style(text, bold=True)


def print_result(kb: KnowledgeBase, result: Result, *, explain: bool = False) -> None:
    """Print a result for people: recommendation, ranking, reasons, caveats, next steps."""
    echo = click.echo
    if result.recommendation is None:
        echo(_heading("No approach fits: every approach was excluded."))
    else:
        echo(_heading(f"Recommendation: {kb.approach_name(result.recommendation)}"))
        found = {t.approach: t.text for t in techniques(kb, result)}
        if result.recommendation in found:
            echo(f"  technique: {found[result.recommendation]}")
        for partner in result.combine_with:
            how = f" (technique: {found[partner]})" if partner in found else ""
            echo(f"  combined with: {kb.approach_name(partner)}{how}")
    for line in provisional_lines(kb, result, undecided(kb, result)):
        echo(f"  {line}")
    for line in assumed_lines(kb, on_defaults(kb, result)):
        echo(f"  {line}")
    echo()
    echo(_heading("Ranking"))
    width = max(len(a.name) for a in kb.approaches)
    for i, r in enumerate(result.ranking, 1):
        if r.excluded:
            # One reason a line: a reason may itself contain "; ".
            line = f"  -  {kb.approach_name(r.approach):<{width}}  excluded:"
            if len(r.reasons) == 1:
                echo(f"{line} {r.reasons[0]}")
            else:
                echo(line)
                for reason in r.reasons:
                    echo(f"       - {reason}")
        else:
            echo(f"  {i}. {kb.approach_name(r.approach):<{width}}  score {r.score:+d}")
    echo()
    shown = result.firings if explain else key_firings(kb, result, TOP_REASONS)
    echo(_heading("How the rules decided" if explain else "Reasons that mattered most"))
    for number, firing in enumerate(shown, 1):  # as shown (with --explain: the firing order)
        rule = kb.rule(firing.rule_id)
        effects = ", ".join(effect_text(e) for e in firing.effects)
        echo(f"  {number:>2}. {rule.title}  ({effects})")
        echo(f"      {rule.because}" if rule.because else "")
        if explain:
            matched = [f"{n}={display_value(kb.fact(n), v)}" for n, v in firing.matched]
            matched += [f"{n}={'yes' if v else 'no'} (derived)" for n, v in firing.matched_derived]
            source = kb.source(rule.source).reference if rule.source else "no source"
            echo(
                f"      matched: {', '.join(matched) or 'always'}; source: {source}; {rule.location}"
            )
    tied = tied_with(kb, result)
    if not shown and explain:
        echo("  (no rule fired)")
    elif tied:
        echo(f"  ({tied}; see --explain)")
    elif not shown:
        echo("  (no rule raised the recommendation or held back a rival; see --explain)")
    if result.advice:
        echo()
        echo(_heading("Advice"))
        for item in result.advice:
            echo(f"  - {item}")
    plan = [kb.approach(a) for a in result.plan]
    for title, lists in (
        ("Caveats", [(a.name, tuple(c.text for c in a.caveats_in(result.plan))) for a in plan]),
        ("Next steps", [(a.name, a.next_steps) for a in plan]),
    ):
        if not any(items for _, items in lists):
            continue
        echo()
        echo(_heading(title))
        for name, items in lists:
            if len(plan) > 1 and items:
                echo(f"  {name}:")  # a combined plan: whose caveat or step it is
            for item in items:
                echo(f"  - {item}")
    echo()
    print_facts(kb, result)


def print_facts(kb: KnowledgeBase, result: Result) -> None:
    """Print which facts were given, assumed from their defaults, or unknown."""
    shown = {
        status: [
            f"{n}={display_value(kb.fact(n), v)}"
            for n, v in result.case.values
            if v is not None and result.case.status_of(n) == status
        ]
        for status in ("given", "defaulted")
    }
    unknown = [n for n, v in result.case.values if v is None]
    click.echo(_heading("Facts"))
    click.echo(f"  given: {', '.join(shown['given']) or 'none'}")
    if shown["defaulted"]:
        click.echo(f"  assumed (documented defaults): {', '.join(shown['defaulted'])}")
    if unknown:
        click.echo(f"  unknown: {', '.join(unknown)}")
    click.echo(f"  rule base: {kb.fingerprint[:12]}")
