# Every target bootstraps itself: a virtual environment holding the project (editable) and the
# exact versions of constraints.txt, plus the machine packages the tests drive for real
# (Graphviz, poppler, Chromium, PostgreSQL: apt-get when running as root, otherwise a message).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LINKED := $(VENV)/.linked
LOCK   := constraints.txt
EXTRAS := test,postgres
# durable-rules 2.0.28 calls PyEval_CallObject, which Python 3.13 removed; the macro maps it to
# its replacement (a no-op on older versions).
export CPPFLAGS := -DPyEval_CallObject=PyObject_CallObject $(CPPFLAGS)
# Every pip run, build environments included, takes the locked versions.
export PIP_CONSTRAINT := $(abspath $(LOCK))
# The interpreters `make test-all` looks for.
SUPPORTED := 3.11 3.12 3.13
LINT := engine cli diagrams rules tests benchmarks __init__.py __main__.py

.PHONY: consult test test-all docs bench fuzz lock dist system-deps clean

consult: $(LINKED)
	@$(VENV)/bin/llm-advisor consult

# mermaid-cli renders the Mermaid output in the tests, with the machine's Chromium (no browser
# download), in a git-ignored node_modules/; package-lock.json pins it and all it needs.
MMDC := node_modules/.bin/mmdc
$(MMDC): package-lock.json
	PUPPETEER_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund --loglevel=error
	touch $(MMDC)

# The suite runs on every core (pytest-xdist): each worker has its own temporary folders,
# diagram cache and PostgreSQL server.
test: $(LINKED) system-deps $(MMDC)
	$(VENV)/bin/ruff check $(LINT)
	$(VENV)/bin/ruff format --check $(LINT)
	$(VENV)/bin/mypy
	$(VENV)/bin/llm-advisor rules check --cross-check 2000
	$(VENV)/bin/pytest -n auto

# The suite on every supported interpreter found (python3.X on PATH, else a pyenv version),
# each in its own virtual environment.
test-all: system-deps
	@found=0; for v in $(SUPPORTED); do \
	  py=$$(sh scripts/find-python $$v) || { echo "test-all: Python $$v not found, skipped"; continue; }; \
	  found=$$((found + 1)); echo "=== Python $$v ($$py)"; \
	  $(MAKE) --no-print-directory test PYTHON=$$py VENV=.venv-$$v || exit 1; \
	done; [ $$found -gt 0 ] || { echo "test-all: no supported Python found ($(SUPPORTED))" >&2; exit 1; }

# One PDF for a design review (overview, one page per approach, the exact diagram as appendix
# pages with an index), the overview as SVG, and the interactive page.
docs: $(LINKED) system-deps
	$(VENV)/bin/llm-advisor diagram --book -o docs/decision-tree.pdf
	$(VENV)/bin/llm-advisor diagram -o docs/decision-tree.svg
	$(VENV)/bin/llm-advisor diagram -o docs/decision-tree.html

bench: $(LINKED)
	$(PY) -m benchmarks

# Many more rule-base mutants than `make test` runs (FUZZ_N, on every core), then the input
# and fault properties with FUZZ_SCALE times their examples, drawn at random.
FUZZ_N     ?= 50000
FUZZ_SCALE ?= 10
fuzz: $(LINKED) system-deps
	FUZZ_N=$(FUZZ_N) $(PY) -m tests.fuzz
	FUZZ_SCALE=$(FUZZ_SCALE) $(VENV)/bin/pytest tests/test_fuzz_inputs.py tests/test_fuzz_rules.py tests/test_faults.py -k "not mutated_rule_bases"

# Refresh the lock files: exact versions of everything the dev/test environment installs, for
# every supported Python (uv's universal resolution), and of the Node tools (package-lock.json).
UV_VERSION := 0.9.9
lock: $(STAMP)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --extra test --extra postgres \
	  --output-file $(LOCK) pyproject.toml
	PUPPETEER_SKIP_DOWNLOAD=true npm install --package-lock-only --no-audit --no-fund --loglevel=error

# A wheel and an sdist in dist/, checked by twine.
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

$(STAMP): pyproject.toml $(LOCK)
	@sh scripts/check-python $(PYTHON)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet pip setuptools wheel
	$(PY) -m pip install --quiet durable-rules || sh scripts/check-build $(PY)
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install --quiet --config-settings editable_mode=strict -e '.[$(EXTRAS)]'
	touch $(STAMP)

# The editable install is a tree of links (setuptools' strict mode: no import hook, and mypy
# sees the package); a module added, removed or renamed needs the tree made again.
PACKAGE_DIRS := $(shell find engine cli diagrams rules -name __pycache__ -prune -o -type d -print)
$(LINKED): $(STAMP) $(PACKAGE_DIRS) __init__.py __main__.py
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install --quiet --no-deps --no-build-isolation --config-settings editable_mode=strict -e .
	touch $(LINKED)

system-deps:
	@sh scripts/system-deps

clean:
	rm -rf .venv .venv-3.* build dist docs/*.pdf docs/*.svg docs/*.html node_modules .pytest_cache .mypy_cache .ruff_cache
