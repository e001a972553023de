# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
export DAGSTER_DISABLE_TELEMETRY := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false

.PHONY: setup test-setup run test test-long ui sql docs bench lint clean

setup: $(VENV)/.installed

# The tests also cover the optional Spark and PostgreSQL extras (docs/scale-out.md).
test-setup: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) on PATH (or make PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/cte prepare
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,spark,postgres]'
	@touch $@

run: setup          ## generate sample data if none, then ingest -> checks -> dbt -> publish
	$(BIN)/cte run

test: test-setup    ## the whole test suite but the long tests (CI)
	$(BIN)/pytest -q -p no:cacheprovider --durations=15 -n 2 --dist loadfile

test-long: test-setup  ## the long tests: a Nova change through the sensor to the snapshot (~6 min)
	$(BIN)/pytest -q -p no:cacheprovider -m long

ui: setup           ## Dagster UI on http://127.0.0.1:3000 with sensors and schedules
	$(BIN)/cte ui

sql: setup          ## read-only SQL prompt on the published snapshot
	$(BIN)/cte sql

docs: setup         ## dbt docs (the analyst's data dictionary) on http://127.0.0.1:8080
	$(BIN)/cte docs

bench: setup        ## statewide benchmark; writes benchmarks/results/<date>.json and .md
	$(BIN)/python -m benchmarks.run

# sqlfluff renders the models with dbt (the dbt templater): the profile's DuckDB path, the
# target and the logs point at a throwaway folder, so no warehouse is opened or built
# (docs/decisions/0033-sql-lint.md).
lint: setup         ## ruff on the Python, sqlfluff on the dbt models
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	CTE_WAREHOUSE_PATH="$$tmp/lint.duckdb" DBT_TARGET_PATH="$$tmp/target" \
	DBT_LOG_PATH="$$tmp/logs" $(BIN)/sqlfluff lint dbt/models

clean:              ## remove generated data and state (never raw files you placed yourself)
	rm -rf warehouse/* dbt/target dbt/logs expectations/gx/uncommitted
	touch warehouse/.gitkeep
