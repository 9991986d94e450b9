# avatarchat: `make run` starts everything on one machine, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
BUF := node_modules/.bin/buf
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
SYS_STAMP := .data/.system-packages
# Debian packages the suite uses: chromium (browser tests, avatar previews), the PostgreSQL manual (knowledge test corpus).
SYSTEM_PACKAGES := chromium postgresql-doc-15

.PHONY: run test deps gen check-gen lint fmt pytest clean widget

WIDGET_STAMP := widget/dist/embed.js

run: deps widget
	$(BIN)/avatarchat up

test: deps lint check-gen pytest

deps: $(SYS_STAMP) $(PY_STAMP) $(NODE_STAMP)

# Installs only what is missing, so a machine that has everything never touches apt.
$(SYS_STAMP):
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	mkdir -p $(dir $@) && touch $@

$(PY_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	SCARF_ANALYTICS=false npm ci --no-audit --no-fund --loglevel=error
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

# embed.js and the 3D widget, bundled with esbuild (type-checked by tsc first).
widget: $(WIDGET_STAMP)

$(WIDGET_STAMP): $(NODE_STAMP) $(shell find widget/src -name '*.ts' 2>/dev/null) widget/build.mjs widget/tsconfig.json
	npm run --silent build:widget

pytest: deps widget
	$(BIN)/pytest -q

clean:
	rm -rf .gen-check .pytest_cache .mypy_cache
