# The two commands of the README:
#   make demo   install, start the server on the defaults, publish a demo album, print its link
#   make test   install everything the tests need, then run the whole suite
VENV ?= .venv
PYTHON ?= python3
NPM ?= npm
BIN = $(VENV)/bin
# The browser modules (package-lock.json), which the server hashes and serves from node_modules.
JS = node_modules/.installed

.PHONY: demo test bench system-deps docs clean lint lint-py lint-js format

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.app: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[server,owner]'
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The linters and type checker, pinned in pyproject.toml's lint extra; mypy checks tests/ and
# bench/ too, so it needs what they import (the test extra).
$(VENV)/.lint: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,lint]'
	touch $@

# npm ci installs exactly what package-lock.json pins, and only that.
$(JS): package.json package-lock.json
	@command -v $(NPM) >/dev/null 2>&1 || scripts/system-deps.sh npm
	$(NPM) ci --no-audit --no-fund
	touch $@

demo: $(VENV)/.app $(JS)
	$(BIN)/python scripts/demo.py

# ffmpeg makes the test videos and posters; PostgreSQL is started by the tests;
# Playwright drives Debian's Chromium (it cannot download its own browser here).
# nginx sits in front in the deployment tests, with deploy/nginx/fragment.conf.
system-deps:
	@scripts/system-deps.sh ffmpeg postgresql chromium nginx

TEST_WORKERS ?= 2
# --dist loadfile keeps each module on one worker, so its servers (gunicorn, PostgreSQL, S3)
# start once; every worker has its own, on free ports and in its own folders.
test: $(VENV)/.test $(JS) system-deps
	FRAGMENT_REQUIRE_SERVICES=1 $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# Every benchmark as Markdown (bench/run.py); the viewer's drive Debian's Chromium
# with Playwright, a test dependency.
bench: $(VENV)/.test $(JS)
	@scripts/system-deps.sh chromium
	$(BIN)/python -m bench.run

# Style and types: ruff (lint, then the formatter as a check) and mypy for the Python;
# lint-js runs ESLint and tsc --checkJs over static/js. All must be clean.
lint: lint-py lint-js

lint-py: $(VENV)/.lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# ESLint (eslint.config.mjs), then tsc over the JSDoc types: the pages with the DOM library
# (jsconfig.json), the Workers and the Service Worker with the WebWorker one (jsconfig.worker.json),
# since one program cannot hold both libraries. Both are devDependencies, installed by npm ci.
lint-js: $(JS)
	$(NPM) exec -- eslint static/js
	$(NPM) exec -- tsc -p jsconfig.json
	$(NPM) exec -- tsc -p jsconfig.worker.json

# Rewrites the Python in place: the formatter, then ruff's safe fixes.
format: $(VENV)/.lint
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: $(VENV)/.app $(JS)
	FLASK_APP=app $(BIN)/flask settings-doc > docs/settings.md

clean:
	rm -rf $(VENV) data node_modules
