"""The outcome of one batch row (a verdict or an error), rendered once as the output columns
of CSV and JSON Lines, so that rows sharing an outcome share the rendering."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from llm_advisor.engine.inference.outcome import Ranked

if TYPE_CHECKING:
    from llm_advisor.engine.inference.run import Result

Format = Literal["csv", "jsonl"]
Via = Literal["diagram", "inference", "disagreement"]
"""How a row was decided: by the diagram and the analysis, by inference (a fact was unknown, or
`--trace`), or by inference because the diagram and the analysis disagreed (a bug to report)."""

TOP = 3
OUTPUT_COLUMNS = (
    "recommendation",
    "combine_with",
    *(f"rank{k}" for k in range(1, TOP + 1)),
    "fired",
    "error",
)
SEPARATOR = ";"
"""Joins the lists `combine_with` and `fired` in CSV output."""
CSV_TERMINATOR = "\r\n"

Values = tuple[object, ...]
"""A row's raw fact values, in the order of the decider's fact names (None: not given)."""

dump_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
"""Strict JSON: `NaN` and `Infinity` raise (input rows never hold them)."""
_NEEDS_QUOTES = re.compile('[,"\r\n]')


def _csv_tail(columns: dict[str, str | list[str] | None]) -> str:
    """The output columns as the end of a CSV line: `,rag,...\r\n` (lists joined by
    `SEPARATOR`). Rendered once for all the rows that share a verdict."""
    cells = [SEPARATOR.join(v) if isinstance(v, list) else v or "" for v in columns.values()]
    return f",{','.join(map(csv_field, cells))}{CSV_TERMINATOR}"


def _json_tail(columns: dict[str, str | list[str] | None]) -> str:
    """The output columns as the last members of a JSON object: `"recommendation": "rag", ...`."""
    return dump_json(columns)[1:-1]


def csv_field(text: str) -> str:
    """A field as the csv module writes it (quoted only when it has to be)."""
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one row. `fired` is in rule-base order on the fast path and in firing
    order when traced."""

    recommendation: str | None
    combine_with: tuple[str, ...]
    ranking: tuple[Ranked, ...]
    fired: tuple[str, ...]
    via: Via
    csv_tail: str = field(init=False, repr=False, compare=False)
    """The output columns, rendered for CSV."""
    tally: tuple[str | None, str] = field(init=False, repr=False, compare=False)
    """What the run's summary counts: the recommendation and how it was reached."""
    _json: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tally", (self.recommendation, self.via))
        object.__setattr__(self, "csv_tail", _csv_tail(self.columns()))

    @property
    def json_tail(self) -> str:
        """The output columns, rendered for JSON (on first use: only JSON output needs it)."""
        if self._json is None:
            object.__setattr__(self, "_json", _json_tail(self.columns()))
        assert self._json is not None
        return self._json

    def columns(self) -> dict[str, str | list[str] | None]:
        """The output columns: `OUTPUT_COLUMNS` with their values."""
        return {
            "recommendation": self.recommendation,
            "combine_with": list(self.combine_with),
            **{f"rank{k}": text for k, text in enumerate(self.top(), 1)},
            "fired": list(self.fired),
            "error": None,
        }

    def top(self) -> list[str | None]:
        """The first `TOP` places of the ranking as `approach:score` (`approach:excluded`)."""
        shown: list[str | None] = [
            f"{r.approach}:{'excluded' if r.excluded else r.score}" for r in self.ranking[:TOP]
        ]
        return shown + [None] * (TOP - len(shown))


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row could not be decided; `fact` names the offending field when there is one."""

    message: str
    fact: str | None = None
    csv_tail: str = field(init=False, repr=False, compare=False)
    tally: tuple[str | None, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tally", (None, "error"))
        object.__setattr__(self, "csv_tail", _csv_tail(self.columns()))

    @property
    def json_tail(self) -> str:
        return _json_tail(self.columns())

    def columns(self) -> dict[str, str | list[str] | None]:
        return {**dict.fromkeys(OUTPUT_COLUMNS), "error": self.message}


Decided = Verdict | RowError


def verdict_of(result: Result, via: Via) -> Verdict:
    """A verdict from an inference `Result`, with the fired rules in firing order."""
    return Verdict(
        result.recommendation,
        result.combine_with,
        result.ranking,
        tuple(f.rule_id for f in result.firings),
        via,
    )
