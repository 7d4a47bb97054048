"""`python -m llm_advisor`: the same as the `llm-advisor` console script."""

from llm_advisor.cli import run

run()
