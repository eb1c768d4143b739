# Quickstart: `make demo` runs the example project, `make test` runs the test suite.
# Both create .venv on first use. DATABASE_URL=postgres://... runs either on PostgreSQL.
PYTHON ?= python3
VENV ?= .venv
# Extra requirements for the virtualenv, e.g. EXTRA_PIP='django>=6,<7' to test Django 6.
EXTRA_PIP ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types docs check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' $(if $(EXTRA_PIP),'$(EXTRA_PIP)')
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m example_project.demo

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check ash_oban_django
	$(BIN)/lint-imports

types: $(STAMP)
	$(BIN)/mypy ash_oban_django

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

check: lint types test

clean:
	rm -rf $(VENV) site example.sqlite3
