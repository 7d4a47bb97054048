"""`llm-advisor consult`: a guided consultation in the terminal (or from answers piped in)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from llm_advisor.cli import started
from llm_advisor.cli.options import audit_db_option, json_option, load_kb, rules_option
from llm_advisor.cli.wording import plural
from llm_advisor.engine.analysis.consultation import Consultation, Dependency, Prompt
from llm_advisor.engine.language.facts import display_value
from llm_advisor.engine.language.model import KnowledgeBase

if TYPE_CHECKING:
    from llm_advisor.cli.records import Location
    from llm_advisor.engine.inference.run import Result

COMMANDS = "Type a number or a value; '?' help, 'why', 'back', 'unknown' (don't know), 'quit'."
STATE_ENV = "LLM_ADVISOR_STATE_DIR"
"""Overrides the folder where an unfinished consultation is saved (the user state directory)."""
RESUME = "llm-advisor consult --resume"
DEPENDENCIES_SHOWN = 12
"""Conditions listed in the text result when it depends on facts left open (JSON has all)."""


class EndOfInput(Exception):
    """Standard input ended before the consultation was complete."""


def _read(prompt: str, err: bool) -> str:
    click.echo(prompt, nl=False, err=err)
    started()  # the consultation is under way: from here on the garbage collector runs
    try:
        line = input()
    except EOFError:
        raise EndOfInput from None
    if not sys.stdin.isatty():
        click.echo(line, err=err)  # echo piped answers so transcripts read naturally
    return line.strip()


def _show_question(kb: KnowledgeBase, p: Prompt, number: int, err: bool) -> None:
    echo = click.echo
    fact = p.fact
    echo("", err=err)
    echo(click.style(f"Q{number}. {fact.question}", bold=True) + f" [{fact.name}]", err=err)
    if fact.kind.continuous:
        bands = ", ".join(cell.label for cell in p.cells)
        examples = ", ".join(fact.examples) if fact.examples else ""
        echo(f"    Type an amount{f' (e.g. {examples})' if examples else ''}.", err=err)
        echo(f"    What matters here: {bands}", err=err)
    else:
        for i, cell in enumerate(p.cells, 1):
            echo(f"    {i}. {cell.label}", err=err)


def _help(p: Prompt, err: bool) -> None:
    fact = p.fact
    click.echo(f"    {fact.help or fact.question}", err=err)
    for value, text in fact.value_help:
        click.echo(f"      {value}: {text}", err=err)
    if fact.default is not None:
        shown = display_value(fact, fact.default)
        click.echo(f"    'unknown' assumes the documented default: {shown}.", err=err)
    else:
        click.echo(
            "    'unknown' leaves it open; the result then says what it depends on.", err=err
        )


def _why(kb: KnowledgeBase, p: Prompt, err: bool) -> None:
    click.echo(
        f"    Still open between: {', '.join(kb.approach_name(a) for a in p.contenders)}.", err=err
    )
    click.echo(
        f"    {p.deciding} of {len(p.cells)} possible answers settle the outcome.",
        err=err,
    )
    click.echo("    Rules still waiting on this answer:", err=err)
    for rule_id in p.rules:
        rule = kb.rule(rule_id)
        click.echo(f"      - {rule.title} ({rule.id}, {rule.location})", err=err)


def saved_path() -> Path:
    """Where the answers of an unfinished consultation are kept: `$LLM_ADVISOR_STATE_DIR`, else
    the user state directory."""
    from llm_advisor.cli.dirs import user_dir

    return user_dir("state", STATE_ENV) / "consultation.json"


class Keeper:
    """Saves a consultation's answers each time they change, and says afterwards whether they
    are saved; a save that fails is reported once and the consultation goes on."""

    def __init__(self, path: Path, rules: str | None) -> None:
        self.path = path
        self.rules = rules
        self.saved = False
        self.failed = False

    def save(self, session: Consultation) -> None:
        from llm_advisor.engine.analysis.resume import save, saved_of
        from llm_advisor.engine.errors import AdvisorError

        if self.failed:
            return
        try:
            save(self.path, saved_of(session, self.rules))
        except AdvisorError as error:
            self.failed = True
            click.echo(f"    warning: your answers cannot be saved: {error}", err=True)
        else:
            self.saved = True

    def clear(self) -> None:
        from llm_advisor.engine.analysis.resume import clear

        if self.saved:
            clear(self.path)
            self.saved = False

    def stopped(self, session: Consultation) -> str:
        """How to go on, for the message of a consultation that stops unfinished."""
        n = len(session.answers)
        if self.saved and not self.failed and n:
            verb = "is" if n == 1 else "are"
            return f" {plural(n, 'answer')} {verb} saved: '{RESUME}' continues it."
        return ""


def _resumed(
    rules_dir: Path | None, path: Path
) -> tuple[KnowledgeBase, Consultation, str | None, list[str]]:
    """The last unfinished consultation, on its rule base (or on `rules_dir`), with the lines
    that say what was restored and dropped. Bad input when there is none."""
    from llm_advisor.engine.analysis.resume import load, restore
    from llm_advisor.engine.errors import InputError

    saved = load(path)
    if saved is None:
        raise InputError(f"there is no unfinished consultation to resume (looked in {path})")
    if rules_dir is None and saved.rules is not None:
        rules_dir = Path(saved.rules)
    kb = load_kb(rules_dir)
    restored = restore(kb, saved)
    session = restored.session
    given = ", ".join(
        f"{a.fact}={'unknown' if a.value is None else display_value(kb.fact(a.fact), a.value)}"
        for a in session.answers
    )
    notes = [
        f"Resuming the unfinished consultation: {plural(len(session.answers), 'answer')} "
        f"restored{f' ({given})' if given else ''}."
    ]
    if restored.changed:
        notes.append("The rule base has changed since: answers it no longer takes are dropped.")
    notes += [f"    dropped {fact}: {reason}" for fact, reason in restored.dropped]
    rules = str(rules_dir.resolve()) if rules_dir is not None else None
    return kb, session, rules, notes


def _parse_choice(p: Prompt, text: str) -> object:
    """A number picks a listed answer; anything else is parsed as a value of the fact."""
    if not p.fact.kind.continuous and text.isdigit() and 1 <= int(text) <= len(p.cells):
        return p.cells[int(text) - 1].value
    return text


@click.command()
@rules_option
@audit_db_option
@click.option("--no-audit", is_flag=True, help="Do not record this consultation.")
@json_option
@click.option(
    "--diagram",
    "diagram_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the one-page overview with this consultation's path highlighted.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the last unfinished consultation without asking its answered questions again.",
)
def consult(
    rules_dir: Path | None,
    audit_db: str | None,
    no_audit: bool,
    as_json: bool,
    diagram_file: Path | None,
    resume: bool,
) -> None:
    """Answer a few questions and get a recommendation with its reasons.

    Only the questions that can still change the outcome are asked. At any prompt: '?' or
    'help', 'why', 'back', 'unknown' (don't know), 'quit'. Answers may also be piped in, one
    per line.

    Answers are saved as they are given (in the user state directory, or
    $LLM_ADVISOR_STATE_DIR): a consultation stopped with 'quit', Ctrl-D or Ctrl-C
    goes on with --resume, on the rule base it was started with (or --rules). If
    that rule base has changed since, answers it no longer takes are dropped and
    asked again. A finished consultation removes its saved answers.
    """
    from llm_advisor.cli.records import recording_location

    store = recording_location(audit_db, no_audit)  # a bad path fails now, not after the questions
    if diagram_file is not None:
        from llm_advisor.diagrams.export import check_writable, format_for

        check_writable(diagram_file, format_for(diagram_file, None, format_option=False))
    err = as_json  # keep stdout pure JSON
    path = saved_path()
    notes: list[str] = []
    if resume:
        kb, session, rules, notes = _resumed(rules_dir, path)
    else:
        kb = load_kb(rules_dir)
        session = Consultation(kb)
        rules = str(rules_dir.resolve()) if rules_dir is not None else None
        if path.exists():
            notes.append(
                f"(An unfinished consultation is saved: '{RESUME}' continues it; "
                "answering here replaces it.)"
            )
    keeper = Keeper(path, rules)
    if resume:  # what was dropped stays dropped; the saved answers now go with this rule base
        keeper.save(session)
    if isinstance(sys.stdin, io.TextIOWrapper):  # bytes that are not UTF-8: not understood
        sys.stdin.reconfigure(errors="replace")
    if not as_json:
        click.echo(click.style("llm-advisor consultation", bold=True))
        click.echo(COMMANDS)
    for note in notes:
        click.echo(note, err=err)
    try:
        shown: tuple[str, int] | None = None
        while (p := session.next_prompt()) is not None:
            if shown != (p.fact.name, session.questions_asked):
                shown = (p.fact.name, session.questions_asked)
                _show_question(kb, p, session.questions_asked + 1, err)
            text = _read("> ", err)
            word = text.lower()
            if word in ("?", "help", "h"):
                _help(p, err)
            elif word == "why":
                _why(kb, p, err)
            elif word == "back":
                if session.back() is None:
                    click.echo("    Nothing to go back to.", err=err)
                else:
                    keeper.save(session)
            elif word in ("unknown", "u", "don't know", "dont know", "idk"):
                assumed = session.dont_know(p.fact.name)
                keeper.save(session)
                note = (
                    "left open" if assumed is None else f"assuming {display_value(p.fact, assumed)}"
                )
                click.echo(f"    Noted: {p.fact.name} unknown ({note}).", err=err)
            elif word in ("quit", "q", "exit"):
                click.echo(
                    f"Consultation stopped; nothing was recorded.{keeper.stopped(session)}",
                    err=True,
                )
                raise click.exceptions.Exit(1)
            elif not text:
                click.echo(f"    Please answer. {COMMANDS}", err=err)
            else:
                try:
                    session.answer(p.fact.name, _parse_choice(p, text))
                except ValueError as error:
                    click.echo(f"    Not understood: {error}. Try again ('?' for help).", err=err)
                else:
                    keeper.save(session)
        _finish(kb, session, keeper, store, as_json, diagram_file)
    except EndOfInput:
        click.echo(
            "\nInput ended before the consultation finished; nothing was recorded."
            + keeper.stopped(session),
            err=True,
        )
        raise click.exceptions.Exit(1) from None
    except KeyboardInterrupt:  # Ctrl-C, also while the result is made: say how to go on
        click.echo("\nInterrupted." + keeper.stopped(session), err=True)
        raise click.exceptions.Exit(130) from None


def _finish(
    kb: KnowledgeBase,
    session: Consultation,
    keeper: Keeper,
    store: Location | None,
    as_json: bool,
    diagram_file: Path | None,
) -> None:
    """Run inference on the answers, record and print the result (and write the diagram).

    What only the result needs is imported here, so the first question comes sooner."""
    started()  # saved answers may decide the case before any question is asked
    import json

    from llm_advisor.cli.explain import counterfactual_json, print_what_if
    from llm_advisor.cli.records import record_result, report_unrecorded
    from llm_advisor.cli.report import result_json
    from llm_advisor.engine.analysis.explanation import explain
    from llm_advisor.engine.errors import AdvisorError

    result = session.result()
    keeper.clear()
    skipped = len(kb.facts) - session.questions_asked
    dependencies = session.dependencies()
    what_if = explain(kb, result)
    audit_id, problem = record_result(store, kb, result, "consult") if store else (None, None)
    if as_json:
        data = result_json(kb, result, audit_id)
        data["questions_asked"] = session.questions_asked
        data["depends_on"] = [
            {
                "conditions": {f: list(c) for f, c in d.conditions},
                "recommendation": d.decision.recommendation,
                "combine_with": list(d.decision.combine_with),
            }
            for d in dependencies
        ]
        data["counterfactuals"] = [
            counterfactual_json(kb, cf, result.case) for cf in what_if.counterfactuals
        ]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _print_outcome(kb, session, result, skipped, dependencies)
        click.echo()
        print_what_if(kb, what_if)
        if audit_id is not None:
            click.echo(f"\nAudit id: {audit_id} (llm-advisor explain {audit_id})")
    failed = False
    if diagram_file is not None:
        from llm_advisor.cli.diagram import write_highlighted

        try:
            write_highlighted(kb, result, diagram_file)
        except AdvisorError as error:
            click.echo(f"Error: the diagram was not written: {error}", err=True)
            failed = True
    if problem is not None:
        report_unrecorded(problem)
    if failed or problem is not None:
        raise click.exceptions.Exit(1)


def _print_outcome(
    kb: KnowledgeBase,
    session: Consultation,
    result: Result,
    skipped: int,
    dependencies: tuple[Dependency, ...],
) -> None:
    from llm_advisor.cli.report import print_result

    asked = session.questions_asked
    questions = plural(asked, "question")
    click.echo()
    if dependencies:
        click.echo(f"Stopped after {questions}: the rest depends on what you left open.")
    else:
        click.echo(
            f"Decided after {questions}; {skipped} of {len(kb.facts)} questions "
            f"{'was' if skipped == 1 else 'were'} not needed."
        )
    click.echo()
    print_result(kb, result, explain=True)
    if dependencies:
        click.echo()
        click.echo(click.style("It depends on what you left open", bold=True))
        for d in dependencies[:DEPENDENCIES_SHOWN]:
            rec = d.decision.recommendation
            rec = kb.approach_name(rec) if rec else "nothing fits"
            combo = (
                f" with {', '.join(kb.approach_name(a) for a in d.decision.combine_with)}"
                if d.decision.combine_with
                else ""
            )
            where = " and ".join(f"{f} is {' or '.join(c)}" for f, c in d.conditions)
            click.echo(f"  - {rec}{combo} if {where}")
        if len(dependencies) > DEPENDENCIES_SHOWN:
            more = len(dependencies) - DEPENDENCIES_SHOWN
            click.echo(f"  ... and {more} more combinations of the open facts (see --json)")
