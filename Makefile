# The README's two commands: `make demo` and `make test`. Each sets up what it
# needs (a virtualenv with the project's dependencies from pyproject.toml).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SAMPLE := var/legacy-sample.db
CLEANED := var/legacy-cleaned.db
TARGET := env -u DATABASE_URL $(BIN)/python manage.py
# The suite runs against PostgreSQL, never silently against SQLite.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
# One test process a core (pytest-xdist), each with a test database of its own.
PYTEST_ARGS ?= -n auto

.PHONY: install demo test lint bench

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The main job on the bundled sample, into the embedded SQLite target:
# precheck, clean, precheck the copy, import (dry run first), verify.
demo: $(INSTALLED)
	mkdir -p var
	$(TARGET) migrate --verbosity 0
	$(TARGET) make_legacy_sample --output $(SAMPLE) --force
	@# precheck exits 1 on the sample (its duplicate e-mail blocks an import); 2 would be a real failure.
	$(TARGET) precheck --source $(SAMPLE); test $$? -le 1
	$(TARGET) clean_legacy --source $(SAMPLE) --output $(CLEANED) --force
	$(TARGET) precheck --source $(CLEANED)
	$(TARGET) import_legacy --source $(CLEANED) --dry-run
	$(TARGET) import_legacy --source $(CLEANED)
	$(TARGET) verify_import --source $(CLEANED)

test: $(INSTALLED)
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run --verbosity 0

# Not part of the test run: the studio-chain benchmark (see bench/benchmark.py).
SESSIONS ?= 100000
REPEAT ?= 1
SHAPE ?= standard
bench: $(INSTALLED)
	$(BIN)/python bench/benchmark.py --sessions $(SESSIONS) --repeat $(REPEAT) --shape $(SHAPE)
