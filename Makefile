# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
BIND   ?= 127.0.0.1:8000
DEMO_ARGS ?=

.PHONY: demo run test lint

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $@

## The demo city on the embedded database: a service, simulated operators and riders over HTTP,
## a summary, then the service left running (DEMO_ARGS="--exit" stops after the summary).
demo: $(BIN)/.installed
	$(BIN)/greenpoints demo $(DEMO_ARGS)

## Migrate the embedded SQLite database and serve the API on $(BIND).
run: $(BIN)/.installed
	$(BIN)/greenpoints db upgrade
	$(BIN)/greenpoints serve --bind $(BIND)

## Lint, then every test (PostgreSQL and Redis tests need TEST_POSTGRES_URL / TEST_REDIS_URL).
test: lint
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
