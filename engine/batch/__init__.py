"""Batch mode: decide a whole portfolio of cases, streaming row by row.

Input is CSV (a header row of column names) or JSON Lines (one object per line); the output is
the same rows with the outcome added in `OUTPUT_COLUMNS`. Columns that name facts of the rule base
are decided; any other column is passed through unchanged.

Two ways of deciding, with identical recommendations, combinations and rankings:

* the fast path (default, `decide`): the outcome comes from the compiled decision diagram, the
  ranking and the fired rules from the analysis of the row's full cell state (exact when every
  fact is known). Rows whose facts are left unknown (blank, no default) are decided by
  inference, which is authoritative. Results are memoised per raw row and per cell state in
  bounded caches, since the rows of a portfolio repeat values.
* tracing (`trace`): Rete inference on every row, spread over worker processes (durable_rules
  holds the GIL), with the fired rules in firing order.

Memory does not grow with the input: rows are read (`read`, `jsonline`), decided and written
(`write`) one at a time, the caches are cleared when full, and tracing keeps a bounded window of
chunks in flight. `run` ties them together; the output is written to a temporary file and moved
into place only when every row has been written.
"""

from llm_advisor.engine.batch.decide import Decider, decide_rows
from llm_advisor.engine.batch.jsonline import MAX_DEPTH
from llm_advisor.engine.batch.run import PROGRESS_EVERY, Summary, run_batch
from llm_advisor.engine.batch.trace import CHUNK
from llm_advisor.engine.batch.verdict import OUTPUT_COLUMNS, Decided, RowError, Values, Verdict

__all__ = [
    "CHUNK",
    "MAX_DEPTH",
    "OUTPUT_COLUMNS",
    "PROGRESS_EVERY",
    "Decided",
    "Decider",
    "RowError",
    "Summary",
    "Values",
    "Verdict",
    "decide_rows",
    "run_batch",
]
