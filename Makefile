# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Ports and the data dir: CLICKSTREAM_PORT (8000), CLICKSTREAM_DYNAMODB_PORT (8001),
# CLICKSTREAM_S3_PORT (8002), CLICKSTREAM_DATA_DIR (.data).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_ARGS ?=

.PHONY: run test lint test-python test-node bench clean-data help lock

help:
	@echo "make run    start the local stack, API, demo, dashboard and export scheduler on http://127.0.0.1:$${CLICKSTREAM_PORT:-8000}"
	@echo "make test   install what is missing and run the whole suite"
	@echo "make bench  run the benchmarks (figures go in docs/performance.md)"
	@echo "make lock   pin the newest Python versions pyproject.toml allows in constraints.txt (then make test)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade 'pip<26.3'  # chalice 1.34 packages with pip and requires pip<26.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

# constraints.txt from a fresh resolve in a throw-away venv (docs/decisions/0018-python-constraints.md)
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade 'pip<26.3'
	.lock-venv/bin/python -m pip install --quiet -e '.[test]'
	{ sed -n '/^#/p' constraints.txt && .lock-venv/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .lock-venv

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/clickstream dev

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(PY_STAMP) $(NODE_STAMP) lint
	node web/size-check.mjs
	node --test web/test/*.test.mjs tests/e2e/*.test.mjs
	$(BIN)/python -m pytest -n 2 --maxschedchunk 2 $(PYTEST_ARGS)  # tests/conftest.py: heavy tests first

bench: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/python -m bench

clean-data:
	rm -rf $${CLICKSTREAM_DATA_DIR:-.data}

include deploy/Makefile.mk
