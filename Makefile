# tally: `make analytics-verify` runs the pipeline on the embedded database; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export TALLY_HOME ?= $(CURDIR)/.tally

.DEFAULT_GOAL := help
.PHONY: help install analytics-verify test lint bench bench-load bench-rollup db-stop clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[verify,dev]'
	@touch $@

install: $(INSTALLED) ## Create the virtualenv and install tally with its tools

analytics-verify: $(INSTALLED) ## Load a sample, roll it up, verify it, print a summary
	$(BIN)/tally db start
	$(BIN)/tally load samples/events.jsonl
	$(BIN)/tally rollup
	$(BIN)/tally verify
	@$(BIN)/python -m psycopg --version >/dev/null 2>&1 || true
	@psql "$$($(BIN)/tally db url)" -c 'select org_id, sum(request_count) as requests, sum(total_tokens) as tokens from analytics.fct_usage_hourly group by 1 order by 1' 2>/dev/null || true

test: $(INSTALLED) ## Run the whole test suite (pytest, dbt build and tests on the embedded database)
	$(BIN)/pytest

lint: $(INSTALLED) ## ruff and sqlfluff
	$(BIN)/ruff check cli benchmarks
	@# sqlfluff's dbt templater compiles the project: it needs the database and dbt's environment
	$(BIN)/tally db start >/dev/null
	eval "$$($(BIN)/python -m tally.dbt_env)" && $(BIN)/sqlfluff lint models tests analyses snapshots

bench: bench-load bench-rollup ## All benchmarks; each prints its figures

bench-load: $(INSTALLED) ## Load 5M generated events from CSV, JSONL, Parquet beside psql \copy
	$(BIN)/python benchmarks/bench_load.py

bench-rollup: $(INSTALLED) ## Incremental rollup after 1% late events vs full refresh, 10M events
	$(BIN)/python benchmarks/bench_rollup.py

db-stop: ## Stop the embedded database
	@test -x $(BIN)/tally && $(BIN)/tally db stop || true

clean: db-stop ## Remove the virtualenv and the state folder
	rm -rf $(VENV) $(TALLY_HOME)
