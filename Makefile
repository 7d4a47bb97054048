# Every target bootstraps itself: a virtual environment with the project and its test extras,
# and Graphviz's `dot` (Debian's package, installed when running as root).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTHON ?= python3

.PHONY: consult test docs bench fuzz lint graphviz clean

consult: $(STAMP) graphviz
	$(VENV)/bin/llm-advisor consult

test: $(STAMP) graphviz
	$(VENV)/bin/ruff check engine cli diagrams tests benchmarks
	$(VENV)/bin/ruff format --check engine cli diagrams tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/llm-advisor rules check --cross-check 2000
	$(VENV)/bin/pytest

docs: $(STAMP) graphviz
	$(VENV)/bin/llm-advisor diagram -o docs/decision-tree.pdf
	$(VENV)/bin/llm-advisor diagram -o docs/decision-tree.svg

bench: $(STAMP)
	$(PY) -m benchmarks

# Many more rule-base mutants than `make test` runs (FUZZ_N, on every core), then the input
# and fault properties with FUZZ_SCALE times their examples, drawn at random.
FUZZ_N     ?= 50000
FUZZ_SCALE ?= 10
fuzz: $(STAMP) graphviz
	FUZZ_N=$(FUZZ_N) $(PY) -m tests.fuzz
	FUZZ_SCALE=$(FUZZ_SCALE) $(VENV)/bin/pytest tests/test_fuzz_inputs.py tests/test_fuzz_rules.py tests/test_faults.py -k "not mutated_rule_bases"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else "llm-advisor needs Python 3.11 or 3.12 (durable-rules does not import on 3.13); set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz poppler-utils >/dev/null; \
	  else \
	    echo "Graphviz's 'dot' is missing: install it (Debian/Ubuntu: sudo apt-get install graphviz poppler-utils; macOS: brew install graphviz poppler)." >&2; exit 1; \
	  fi; }
	@command -v pdfinfo >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; fi; }

clean:
	rm -rf $(VENV) docs/*.pdf docs/*.svg .pytest_cache .mypy_cache .ruff_cache
