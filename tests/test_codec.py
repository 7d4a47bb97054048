"""The one JSON encoding of inference results: it decodes to the same result, audit records hold
it, and the JSON output's firings are it with values shown as people type them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_advisor.cli.main import cli
from llm_advisor.engine import recommend
from llm_advisor.engine.audit.store import AuditStore
from llm_advisor.engine.inference.codec import RESULT_KEYS, result_from_json, result_to_json
from llm_advisor.engine.language import quantity
from llm_advisor.engine.language.loader import load_knowledge_base

KB = load_knowledge_base()
DISPLAY_ONLY = {"matched", "matched_derived", "source_title", "source_reference"}
"""What the output's firings show instead of, or beside, the encoding."""


def _answers(name: str) -> list[str]:
    """Every value of a fact that the rules tell apart, and 'unknown'."""
    fact = KB.fact(name)
    if fact.unit is not None:
        values = [quantity.display(t, fact.unit) for t in KB.thresholds(name)]
        values += [quantity.display(2 * t + 1, fact.unit) for t in KB.thresholds(name)]
    elif fact.values:
        values = list(fact.values)
    else:
        values = ["yes", "no"]
    return [*values, "unknown"]


facts = st.fixed_dictionaries({name: st.sampled_from(_answers(name)) for name in KB.fact_names})


@settings(max_examples=200, deadline=None)
@given(facts=facts)
def test_an_encoded_result_decodes_to_the_same_result(facts: dict[str, Any]) -> None:
    result = recommend(KB, facts)
    data = json.loads(json.dumps(result_to_json(KB, result)))
    assert set(data) == set(RESULT_KEYS)
    assert result_from_json(data, KB.fingerprint) == result


def test_the_output_and_the_record_share_one_encoding_of_each_firing(tmp_path: Path) -> None:
    store = tmp_path / "audit.sqlite3"
    args = ["--fact", "problem_type=knowledge", "--fact", "change_frequency=weekly"]
    args += ["--fact", "budget=$50k", "--fact", "timeline=3w", "--fact", "labeled_examples=5k"]
    run = CliRunner().invoke(cli, ["recommend", "--json", "--audit-db", str(store), *args])
    assert run.exit_code == 0, run.output
    shown = json.loads(run.stdout)
    with AuditStore.open(store) as audit:
        recorded = audit.get(shown["audit_id"]).data["fired"]
    assert shown["fired"], "the case fires rules"
    assert len(shown["fired"]) == len(recorded)
    for out, kept in zip(shown["fired"], recorded, strict=True):
        assert {k: v for k, v in out.items() if k not in DISPLAY_ONLY} == {
            k: v for k, v in kept.items() if k not in DISPLAY_ONLY
        }
        assert list(out["matched"]) == [name for name, _ in kept["matched"]]
        assert out["matched_derived"] == dict(kept["matched_derived"])
        source = KB.source(kept["source"]) if kept["source"] else None
        assert out["source_reference"] == (source.reference if source else None)
