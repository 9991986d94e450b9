# avatarchat: `make run` starts everything on one machine, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
BUF := node_modules/.bin/buf
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run test deps gen check-gen lint fmt pytest clean

run: deps
	$(BIN)/avatarchat up

test: deps lint check-gen pytest

deps: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

gen: deps
	tools/gen_protos.sh gen

# Regenerates into a scratch folder and fails when the committed gen/ differs.
check-gen: deps
	rm -rf .gen-check && tools/gen_protos.sh .gen-check >/dev/null
	diff -r -q gen/avatarchat .gen-check/avatarchat || { echo "gen/ is stale: run 'make gen'"; rm -rf .gen-check; exit 1; }
	rm -rf .gen-check

lint: deps
	$(BUF) lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

pytest: deps
	$(BIN)/pytest -q

clean:
	rm -rf .gen-check .pytest_cache .mypy_cache
