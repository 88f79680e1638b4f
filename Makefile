# Courier — the two commands: `make run` (everything on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Microsoft's Office.js from npm, for the browser tests only (tests/officejs/).
OFFICEJS := tests/officejs/node_modules/@microsoft/office-js/package.json

.PHONY: run test lint format bench clean migration

run: $(STAMP)
	$(PY) -m server.launcher

test: $(STAMP) $(OFFICEJS) tests/axe/node_modules/.package-lock.json
	$(PY) -m pytest -n auto

# axe-core for the admin console's accessibility scan (browser tests only; never served).
tests/axe/node_modules/.package-lock.json: tests/axe/package-lock.json
	npm ci --prefix tests/axe --no-audit --no-fund

lint: $(STAMP)
	$(VENV)/bin/ruff check server tests bench
	$(VENV)/bin/ruff format --check server tests bench

format: $(STAMP)
	$(VENV)/bin/ruff format server tests bench

# Every benchmark; the fleet one in its quick mode (the full simulated hour: bench/fleet.py).
bench: $(STAMP)
	for b in bench/*.py; do \
	  case $$b in bench/fleet.py) args=--quick ;; *) args= ;; esac; \
	  $(PY) $$b $$args || exit 1; \
	done

$(STAMP): requirements.txt requirements-dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(OFFICEJS): tests/officejs/package.json tests/officejs/package-lock.json
	cd tests/officejs && npm ci --no-audit --no-fund --loglevel=error
	touch $(OFFICEJS)

clean:
	rm -rf $(VENV) instance artifacts .pytest_cache tests/officejs/node_modules

# A new migration from the models' changes: make migration m="what changed"
migration: $(STAMP)
	rm -f instance/migration-base.db
	DATABASE_URL=sqlite:///$(CURDIR)/instance/migration-base.db REDIS_URL=redis://127.0.0.1:1/0 \
	  $(VENV)/bin/flask --app server db upgrade
	DATABASE_URL=sqlite:///$(CURDIR)/instance/migration-base.db REDIS_URL=redis://127.0.0.1:1/0 \
	  $(VENV)/bin/flask --app server db revision -m "$(m)"
	rm -f instance/migration-base.db
