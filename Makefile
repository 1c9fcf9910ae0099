# One obvious command per task. `make run` and `make test` install what they need first.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NPM     ?= npm
# the UI (ui/): npm ci when the lock changes, a build when any source is newer than the build
UI_DEPS := ui/node_modules/.installed
UI_SRC  := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/package.json \
           ui/package-lock.json ui/vite.config.ts ui/tsconfig.json ui/tsconfig.app.json \
           ui/tsconfig.node.json

.PHONY: install run test unit lint format bench clean ui ui-check ui-api

install: $(STAMP)

# torch first and pinned: a plain `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

run: install ui
	$(BIN)/tessera up

# the browser tests (tests/e2e) need the system's Chromium; the Makefile installs no system
# packages: without it they skip and say so (under CI they fail; .ci/run installs it)
test: install lint ui-check
	$(BIN)/pytest

# The web UI served by the gateway at /. Without npm the API still runs, without the UI.
ui:
	@if command -v $(NPM) >/dev/null; then $(MAKE) --no-print-directory ui/dist/index.html; \
	else echo "npm not found: skipping the web UI (install Node.js 20.19+ to get it)" >&2; fi

$(UI_DEPS): ui/package.json ui/package-lock.json
	cd ui && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

ui/dist/index.html: $(UI_DEPS) $(UI_SRC)
	cd ui && $(NPM) run build
	touch $@

# typecheck, unit tests (vitest) and the production build
ui-check: $(UI_DEPS)
	cd ui && $(NPM) run typecheck && $(NPM) test && $(NPM) run build

# regenerate the UI's API types from the gateway's OpenAPI (commit the result)
ui-api: install $(UI_DEPS)
	$(BIN)/python scripts/ui_api.py
	cd ui && $(NPM) run gen:api

unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/mypy_tree.py >/dev/null
	$(BIN)/mypy
	cd .state/mypy && PYTHONPATH=. $(abspath $(BIN))/lint-imports --no-cache $(CURDIR)/pyproject.toml

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .state ui/node_modules ui/dist
