# tally: `make analytics-verify` runs the pipeline on the embedded database; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export TALLY_HOME ?= $(CURDIR)/.tally

.DEFAULT_GOAL := help
.PHONY: help install prometheus chromium analytics-verify test test-slow test-postgres15 check-package reference lint bench bench-load bench-rollup bench-queries bench-ops bench-scale bench-spark db-stop clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# the spark extra adds about 70 s to a fresh install (measured on the 2-core machine)
	$(BIN)/python -m pip install --quiet --editable '.[dev,spark]'
	@touch $@

install: $(INSTALLED) ## Create the virtualenv and install tally with its tools

# Prometheus and promtool, for the tests of `tally metrics` and the alert rules (Debian's package;
# the tests skip, saying why, where it cannot be installed).
prometheus: ## Install Prometheus and promtool (apt-get, as root) unless they are there
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  test "$$(id -u)" -eq 0 || { echo "error: installing prometheus needs root (apt-get)" >&2; exit 1; }; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null \
	  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	       apt-get install -y -q --no-install-recommends prometheus >/dev/null; }; }

chromium: ## Install Debian's chromium (apt-get, as root) for the report's browser test, unless it is there
	@command -v chromium >/dev/null || { \
	  test "$$(id -u)" -eq 0 || { echo "error: installing chromium needs root (apt-get)" >&2; exit 1; }; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null \
	  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	       apt-get install -y -q --no-install-recommends chromium >/dev/null; }; }

# The gate CI runs. It works in a state folder of its own, emptied first, so it never touches the
# data in $(TALLY_HOME) and a second run starts where the first did: a generated sample (late,
# duplicate, voided and bad records) arrives in three batches with a rollup after each; batch 1
# brings users, API keys and a third of the events (their organizations still unknown: UTC days),
# batch 2 the organizations (days move to local time zones), more events and the voids, batch 3
# the rest, a file loaded again (skipped) and the legacy application's SQLite database (its
# organizations, users, keys, usage and audit log). `tally load` exits 3 when it quarantined records,
# which the sample's bad records make it do: accepted; 1 (a file failed) is not.
VERIFY_HOME := $(abspath $(or $(VERIFY_HOME),$(TALLY_HOME)/verify))
VERIFY_EVENTS ?= 20000
analytics-verify: override export TALLY_HOME := $(VERIFY_HOME)
analytics-verify: SAMPLE := $(VERIFY_HOME)/sample
analytics-verify: LOAD = $(BIN)/tally load $(1) || test $$? -eq 3
analytics-verify: ROLLUP = $(BIN)/tally rollup >$(VERIFY_HOME)/rollup-$(1).log 2>&1 \
	|| { cat $(VERIFY_HOME)/rollup-$(1).log; exit 1; }; echo "rollup $(1): ok"
analytics-verify: $(INSTALLED) ## Load a generated sample in batches, roll up, verify, summarize
	@$(BIN)/tally db stop >/dev/null 2>&1 || true
	rm -rf $(VERIFY_HOME) && mkdir -p $(SAMPLE) && chmod 755 $(VERIFY_HOME)
	$(BIN)/tally generate --events $(VERIFY_EVENTS) --out $(SAMPLE) --seed 1 >/dev/null
	$(BIN)/tally generate --format sqlite --events 2000 --out $(SAMPLE)/legacy --seed 2 >/dev/null
	split -n l/3 -d --additional-suffix=.jsonl $(SAMPLE)/events.jsonl $(SAMPLE)/events-part-
	$(call LOAD,$(SAMPLE)/users.jsonl $(SAMPLE)/api_keys.jsonl $(SAMPLE)/events-part-00.jsonl)
	@$(call ROLLUP,1)
	$(call LOAD,$(SAMPLE)/organizations.jsonl $(SAMPLE)/events-part-01.jsonl $(SAMPLE)/voids.jsonl)
	@$(call ROLLUP,2)
	$(call LOAD,$(SAMPLE)/events-part-02.jsonl $(SAMPLE)/events-part-00.jsonl $(SAMPLE)/legacy/app.db)
	@$(call ROLLUP,3)
	@echo && $(BIN)/python -m tally.verify.summary && echo
	$(BIN)/tally verify
	@echo "state: $(VERIFY_HOME) (TALLY_HOME=$(VERIFY_HOME) $(BIN)/tally db url)"

test: $(INSTALLED) ## Run the test suite but its slow and Spark tests (pytest, dbt on the embedded database)
	$(BIN)/pytest -m "not slow and not spark"

test-slow: $(INSTALLED) prometheus chromium ## Run the slow and Spark tests (CI runs them after `make test`), installing Prometheus, Chromium and PostgreSQL 15 where missing
	@# pytest's exit status 5 means no test is marked so: nothing to run is not a failure
	TALLY_PG15_BIN="$$(ci/postgres15.sh)" $(BIN)/pytest -m "slow or spark" || test $$? -eq 5

check-package: ## Install the package into a fresh virtualenv, init a project outside the checkout, run it
	ci/check-package.sh $(PYTHON)

reference: $(INSTALLED) ## Write every command's --help into docs/reference.md
	TALLY_WRITE_REFERENCE=1 $(BIN)/pytest -q cli/tests/test_reference.py

# The migration cycle and a whole pipeline on the `postgres` target, against Debian's PostgreSQL
# 15 (installed by ci/postgres15.sh when missing, as root) with a build role that is no
# superuser. CI runs it: `make test-slow` skips these tests where PostgreSQL 15 is missing.
test-postgres15: $(INSTALLED) ## The postgres target on Debian's PostgreSQL 15 (migrations, pipeline)
	TALLY_PG15_BIN="$$(ci/postgres15.sh)" $(BIN)/pytest cli/tests/test_postgres_target.py

lint: $(INSTALLED) ## ruff and sqlfluff
	$(BIN)/ruff check cli benchmarks
	@# sqlfluff's dbt templater compiles the project: it needs the database and dbt's environment
	$(BIN)/tally db start >/dev/null
	eval "$$($(BIN)/tally db env)" && $(BIN)/sqlfluff lint models tests analyses snapshots

bench: bench-load bench-rollup bench-queries bench-scale bench-ops bench-spark ## All benchmarks; each prints its figures

bench-load: $(INSTALLED) ## Load 5M generated events from CSV, JSONL, Parquet beside psql \copy
	$(BIN)/python benchmarks/bench_load.py

bench-rollup: $(INSTALLED) ## Incremental rollup after 1% late events vs full refresh, 10M events
	$(BIN)/python benchmarks/bench_rollup.py

bench-queries: $(INSTALLED) ## Analysts' questions on raw events, a TokenLedger-style view and the rollups, 3M events
	$(BIN)/python benchmarks/bench_queries.py

bench-scale: $(INSTALLED) ## tally rollup per kind of change vs full refresh, 3M events (EVENTS=30000000)
	$(BIN)/python benchmarks/bench_scale.py --events $(or $(EVENTS),3000000)

bench-ops: $(INSTALLED) ## Legacy SQLite move, catch-up, backup/restore, migration windows, 10M events (EVENTS=1000000)
	$(BIN)/python benchmarks/bench_ops.py --events $(or $(EVENTS),10000000)

bench-spark: $(INSTALLED) ## Load, rollup, 1% late events, verify on Spark local[2] vs PostgreSQL, 1M events (EVENTS=20000)
	$(BIN)/python benchmarks/bench_spark.py --events $(or $(EVENTS),1000000)

db-stop: ## Stop the embedded database (and the one of analytics-verify)
	@test -x $(BIN)/tally && $(BIN)/tally db stop || true
	@test -d $(VERIFY_HOME) && TALLY_HOME=$(VERIFY_HOME) $(BIN)/tally db stop >/dev/null || true

clean: db-stop ## Remove the virtualenv and the state folder
	rm -rf $(VENV) $(TALLY_HOME)
