# Each target bootstraps .venv itself when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := .demo
NUBES  := $(BIN)/nubes
DEMO_ARGS := --state-dir $(DEMO)

.PHONY: demo test test-fast bench check clean ruby-client browser mimic postgres

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "nubes needs Python 3.11+")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# the console's front-end libraries (htmx, uPlot), pinned in package.json and its lock file; the
# server serves them from here, so the console works offline
ASSETS := node_modules/.installed
$(ASSETS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(ASSETS)

# Debian's Chromium for the console's Playwright tests (they skip, saying why, without it)
browser:
	@command -v chromium >/dev/null || { \
	  command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	} || echo "chromium could not be installed: the console's browser tests will be skipped"

demo: $(STAMP) $(ASSETS)
	@rm -rf $(DEMO)
	@printf "\n=== %s\n" "nubes validate: check the stack without touching any cloud"
	$(NUBES) validate stacks/demo.yaml $(DEMO_ARGS)
	@printf "\n=== %s\n" "nubes plan: nothing exists yet"
	$(NUBES) plan stacks/demo.yaml $(DEMO_ARGS)
	@printf "\n=== %s\n" "nubes apply: create it on the embedded sim cloud"
	$(NUBES) apply stacks/demo.yaml $(DEMO_ARGS) --auto-approve
	@printf "\n=== %s\n" "nubes plan again: the clouds match the stack"
	$(NUBES) plan stacks/demo.yaml $(DEMO_ARGS)
	@printf "\n=== %s\n" "change: 3 replicas of size medium; the plan shows exactly what changes"
	$(NUBES) plan stacks/demo.yaml $(DEMO_ARGS) --var replicas=3 --var size=medium --out $(DEMO)/grow.plan
	$(NUBES) apply $(DEMO)/grow.plan $(DEMO_ARGS)
	@printf "\n=== %s\n" "what nubes manages, and the history of applies"
	$(NUBES) state list stacks/demo.yaml $(DEMO_ARGS)
	$(NUBES) history stacks/demo.yaml $(DEMO_ARGS)
	@printf "\n=== %s\n" "nubes destroy: everything, dependents first"
	$(NUBES) destroy stacks/demo.yaml $(DEMO_ARGS) --var replicas=3 --var size=medium --auto-approve

# Ruby and rest-client, the Deltacloud-style client tests/clients runs (Debian's packages; the test
# skips, saying why, where they cannot be installed)
ruby-client:
	@ruby -e 'require "rest-client"' 2>/dev/null || { \
	  command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby ruby-rest-client >/dev/null; \
	} || echo "ruby-rest-client could not be installed: tests/clients will be skipped"

# mimic, Rackspace's own emulator, in a virtualenv of its own (it needs attrs<24, which nubes's
# tools do not); the rackspace driver's test against it skips, saying why, without it
MIMIC := .mimic/bin/twistd
$(MIMIC):
	test -x .mimic/bin/python || $(PYTHON) -m venv .mimic
	.mimic/bin/python -m pip install --quiet --disable-pip-version-check 'mimic==2.2.0' 'attrs<24' \
	  || echo "mimic could not be installed: the rackspace driver's mimic test will be skipped"
mimic: $(MIMIC)

# Debian's PostgreSQL server for the postgres backend's tests, which start their own server (a
# data folder and port of their own, on 127.0.0.1) and skip, saying why, without it
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	} || echo "postgresql could not be installed: the postgres backend's tests will be skipped"

test: $(STAMP) $(ASSETS) ruby-client browser mimic postgres
	$(BIN)/python -m pytest -q

# the tests that need no server and few processes: a minute or so, for while you work
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python bench/plan_scale.py
	$(BIN)/python bench/apply_parallel.py
	$(BIN)/python bench/ec2_refresh.py
	$(BIN)/python bench/openstack_refresh.py
	$(BIN)/python bench/backends.py
	$(BIN)/python bench/chaos.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/api_load.py
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/console_scale.py
	$(BIN)/python bench/api_scale.py
	$(BIN)/python bench/apply_scale.py

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf node_modules $(VENV) .mimic $(DEMO) .pytest_cache .mypy_cache .ruff_cache
