# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test lint types contracts pytest proto proto-check clean

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

# One worker per core, whole test files per worker (a file's fixtures and caches stay on one worker).
pytest: $(STAMP_DEV)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

test: lint types contracts proto-check pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
