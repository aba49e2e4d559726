# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

# The console's browser tests drive Debian's chromium (pinned; playwright is pinned in pyproject.toml).
CHROMIUM_VERSION := 150.0.7871.100-1~deb12u1
CHROMIUM := /usr/lib/chromium/chromium

.PHONY: demo test lint types contracts pytest proto proto-check browser screenshots secretflow clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/casebridge demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP_DEV)
	$(BIN)/mypy

contracts: $(STAMP_DEV)
	$(BIN)/lint-imports

proto: $(STAMP_DEV)
	$(BIN)/python proto/tools/protogen.py

proto-check: $(STAMP_DEV)
	$(BIN)/python proto/tools/protogen.py --check

# Installs the pinned chromium when it is missing (as root: apt-get); otherwise says what to run.
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium=$(CHROMIUM_VERSION) \
	      || { apt-get update -q && apt-get install -y -q chromium=$(CHROMIUM_VERSION); }; \
	  else \
	    echo "the console's browser tests need Debian's chromium $(CHROMIUM_VERSION): run 'make browser' as root"; \
	    exit 1; \
	  fi; \
	fi

# SecretFlow's PSI (pip spu, Apache-2.0, native) for `casebridge bench psi --compare secretflow`, in an
# environment of its own: spu pins numpy below 2 and jax at 0.4.34 or older. About 1 GB installed.
# spu 0.9.5 has wheels for Python 3.10 and 3.11 only.
SECRETFLOW_VENV := .venv-secretflow
SPU_VERSION := 0.9.5
SECRETFLOW_PYTHON ?= python3.11
secretflow: $(SECRETFLOW_VENV)/.installed
$(SECRETFLOW_VENV)/.installed:
	$(SECRETFLOW_PYTHON) -m venv $(SECRETFLOW_VENV)
	$(SECRETFLOW_VENV)/bin/python -m pip install --quiet spu==$(SPU_VERSION)
	touch $@

# The console screenshots in docs/screenshots, taken by the browser tests.
screenshots: $(STAMP_DEV) browser
	CASEBRIDGE_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/integration/test_console_browser.py

# One worker per core, whole test files per worker (a file's fixtures and caches stay on one worker).
pytest: $(STAMP_DEV) browser
	$(BIN)/python -m pytest -q -n auto --dist loadfile

test: lint types contracts proto-check pytest

clean:
	rm -rf $(VENV) $(SECRETFLOW_VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
