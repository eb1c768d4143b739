# Quickstart: `make demo` runs the example project, `make test` runs the test suite.
# Both create .venv on first use. DATABASE_URL=postgres://... runs either on PostgreSQL.
PYTHON ?= python3
VENV ?= .venv
# Extra requirements for the virtualenv, e.g. EXTRA_PIP='django>=6,<7' to test Django 6.
EXTRA_PIP ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types docs check clean client-headers chromium

# mysqlclient (the MariaDB/MySQL driver in the dev extra) builds against the client headers,
# found through pkg-config: install them from Debian's packages when they are missing.
client-headers:
	@pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists libmariadb 2>/dev/null || { \
		echo "installing libmariadb-dev and pkg-config (mysqlclient builds against them)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libmariadb-dev pkg-config >/dev/null; }

# The browser test drives Debian's Chromium through Playwright (which cannot download its own
# browsers here): install it once when /usr/bin/chromium is missing. Without root it is left
# out, and the browser test says so when it skips.
chromium:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing chromium (the browser test drives it)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				chromium >/dev/null; \
		else echo "chromium is missing and this is not root: the browser test will skip"; fi; }

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory client-headers
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
