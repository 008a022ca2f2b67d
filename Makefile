# Developer entry points. Every target bootstraps .venv on first use and re-installs the
# project into it whenever pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint schema bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

## dev: migrate, seed the demo tenant, run the worker and the API (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set)
dev: $(STAMP)
	$(BIN)/python -m arledger.cli dev

## test: lint (ruff, mypy), then the whole test suite (extra pytest arguments: make test ARGS="-k ledger")
## The browser tests need Debian's chromium: scripts/ensure_chromium.sh finds it or installs it.
test: lint
	CHROMIUM_PATH="$$(scripts/ensure_chromium.sh)" && export CHROMIUM_PATH && $(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/python -m arledger.cli export-schema > schema.graphql.tmp
	mv schema.graphql.tmp schema.graphql

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf .dev
