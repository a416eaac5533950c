# The two commands of the README:
#   make demo   install, start the server on the defaults, publish a demo album, print its link
#   make test   install everything the tests need, then run the whole suite
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: demo test bench system-deps docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.app: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.app
	$(BIN)/python scripts/demo.py

# ffmpeg makes the test videos and posters; PostgreSQL is started by the tests.
system-deps:
	@scripts/system-deps.sh ffmpeg postgresql

test: $(VENV)/.test system-deps
	FRAGMENT_REQUIRE_SERVICES=1 $(BIN)/pytest

bench: $(VENV)/.app
	$(BIN)/python bench/blob_throughput.py

docs: $(VENV)/.app
	FLASK_APP=app $(BIN)/flask settings-doc > docs/settings.md

clean:
	rm -rf $(VENV) data
