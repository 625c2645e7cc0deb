# TaskManage: the two commands are `make run` and `make test`.
#
# Development defaults: DEBUG=1 (settings then keep a random SECRET_KEY under var/), SQLite under
# var/, and the embedded Redis (taskmanage/embedded_redis.py) on a unix socket under var/redis/
# whenever REDIS_URL is not set. Override any of them from the environment, e.g.
# `DEBUG=0 SECRET_KEY=... make run`. Production runs from docker-compose.yml, not from here.

PYTHON ?= python3
VENV = .venv
PY = $(VENV)/bin/python
MANAGE = $(PY) manage.py
EMBEDDED_REDIS = $(PY) -m taskmanage.embedded_redis
PYTEST_ARGS ?=

export DEBUG ?= 1

# Commands that need Redis run under `$(WITH_REDIS)`: unless REDIS_URL names a real server, it
# starts the embedded Redis (or uses the one running: `make run` and `make test` can share it)
# with REDIS_URL pointing at it, and when the command ends it stops the server if it started
# it and nobody else still uses it. So nothing is left running after Ctrl-C.
# `make redis-stop` stops one started by hand (`$(EMBEDDED_REDIS) start`).
WITH_REDIS = $(EMBEDDED_REDIS) run --

.DEFAULT_GOAL := help
.PHONY: help venv run manage test test-pg fuzz bench lint migrate redis-stop clean chromium

help:
	@echo "make run         migrate, create a superuser if none, demo data, start web+worker+beat"
	@echo "make manage     ARGS=\"<command> <args>\": any manage.py command, development defaults"
	@echo "make test        the test suite (pytest -n 2; extra arguments in PYTEST_ARGS)"
	@echo "make test-pg     the same suite on PostgreSQL (PG_URL), PostgreSQL-only tests included"
	@echo "make fuzz        schemathesis over the whole API as admin, staff and a unit (FUZZ_ARGS)"
	@echo "make bench       benchmarks (python -m bench all; one area: BENCH_ARGS=\"tasks --seconds 3\")"
	@echo "make lint        ruff check and the layering contract (lint-imports)"
	@echo "make migrate     apply migrations"
	@echo "make redis-stop  stop an embedded Redis started by hand (run, test, manage stop theirs)"
	@echo "make chromium    install Debian's chromium for the browser tests (as root; make test does it)"
	@echo "make clean       remove .venv and caches (never var/: it holds the dev database)"

venv: $(VENV)/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The stamp makes repeated runs instant: pip runs again only when a pyproject.toml changed.
# The Python client (clients/python) is a package of its own, installed editable beside the
# product: its tests run with the suite, and the reference unit is built on it.
$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml | $(PY)
	$(PY) -m pip install -e clients/python -e '.[dev]'
	touch $@

# One shell under one WITH_REDIS: migrate and demo data need the broker as much as the system.
run: venv
	@$(WITH_REDIS) sh -ec '\
	  $(MANAGE) migrate --noinput; \
	  $(MANAGE) ensure_superuser; \
	  $(MANAGE) demo_data --if-empty; \
	  $(MANAGE) collectstatic --noinput -v0; \
	  exec $(MANAGE) run_system'

# Any management command with the development defaults (DEBUG=1, var/, the embedded Redis):
# make manage ARGS="import_staff people.csv"
manage: venv
	@$(WITH_REDIS) $(MANAGE) $(ARGS)

test: venv chromium
	@$(WITH_REDIS) $(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

# The browser tests (tests/dashboard/browser) drive Debian's Chromium through Playwright; never
# `playwright install`, which downloads browsers. Nothing to do when it is there; as root it is
# installed; otherwise those tests skip, and this says how to get them.
CHROMIUM = /usr/bin/chromium
chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "make: installing Debian's chromium for the browser tests"; \
	  (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) || \
	  echo "make: chromium could not be installed: the browser tests will skip"; \
	else \
	  echo "make: no $(CHROMIUM) and not root: the browser tests will skip" \
	       "(sudo apt-get install chromium)"; \
	fi

# The suite on PostgreSQL, as CI runs it: the concurrency tests (real concurrent connections),
# COPY and the served stack run only there and are skipped by `make test` on SQLite. The
# database is created if missing; Redis is REDIS_URL's or the embedded one.
PG_URL ?= postgres://postgres@127.0.0.1:5432/taskmanage
test-pg: venv chromium
	@DATABASE_URL=$(PG_URL) $(PY) tools/ensure_database.py
	@DATABASE_URL=$(PG_URL) $(WITH_REDIS) $(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

# schemathesis over every operation of /api/schema/, once each with an admin's, a staff
# member's and an execution unit's token, against a throwaway database; prints the counts and fails on any server error
# or schema violation. `make fuzz FUZZ_ARGS="--max-time 60"` bounds each role's run.
FUZZ_ARGS ?=
fuzz: venv
	@$(WITH_REDIS) $(PY) tools/fuzz.py $(FUZZ_ARGS)

# The benchmark harness lives in bench/, beside the product (which neither installs nor routes
# it); `python -m bench` runs it with bench.settings. make bench BENCH_ARGS="tasks --seconds 3"
BENCH_ARGS ?= all
bench: venv
	@$(WITH_REDIS) $(PY) -m bench $(BENCH_ARGS)

# ruff, then the layering contract of pyproject.toml [tool.importlinter]: which app may import
# which, the kernel none, the product never the bench harness.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

migrate: venv
	@$(WITH_REDIS) $(MANAGE) migrate --noinput

redis-stop: venv
	$(EMBEDDED_REDIS) stop

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
