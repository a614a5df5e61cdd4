# The one interface people and CI use. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

install: $(STAMP) ## Create the virtualenv and install pinned dependencies

run: $(STAMP) ## Start the whole system on embedded defaults (SQLite, embedded broker, console providers) with demo data
	$(PY) -m deploy.local

migrate: $(STAMP) ## Bring every service's database to the newest schema
	for s in cases notifier gateway; do $(PY) -m services.$$s migrate || exit 1; done

reply: $(STAMP) ## Simulate an owner's text reply: make reply FROM=+8613800138001 BODY='下周五交'
	$(PY) -m services.gateway reply --from '$(FROM)' --body '$(BODY)'

token: $(STAMP) ## Print an admin staff token
	$(PY) -m services.cases token --sub local-admin --role admin

# pytest-xdist workers for `make test` (tests/conftest.py says which tests go together).
TEST_WORKERS ?= 2
test: $(STAMP) ## Run the whole suite (unit, integration on RabbitMQ + PostgreSQL, e2e) on two workers (TEST_WORKERS=0: one process)
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

unit: $(STAMP) ## Run the unit tests only
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

tools: ## Install the Debian tools the browser tests and benchmarks use (chromium, a CJK font, wrk; needs root)
	command -v chromium >/dev/null && command -v wrk >/dev/null && fc-list | grep -qi wenquanyi || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei wrk; }

bench: $(STAMP) ## Measure throughput against raw baselines on the local RabbitMQ/PostgreSQL
	$(PY) -m tests.bench

lint: $(STAMP) ## Check style and common mistakes
	$(PY) -m ruff check .

lock: $(STAMP) ## Re-freeze constraints.txt after changing requirements*.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	{ head -3 constraints.txt; $(PY) -m pip freeze --exclude-editable; } > constraints.new && mv constraints.new constraints.txt

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) var test-artifacts

.PHONY: help install tools run migrate reply token test unit bench lint lock clean
