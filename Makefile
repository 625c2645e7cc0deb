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

# Unless REDIS_URL names a real server, start the embedded Redis (or reuse the one running:
# `make run` and `make test` can share it). It is started before migrate and demo_data, whose
# events and Celery messages need a broker, and it is left running afterwards: it is cheap,
# and stopping it could pull it from under another `make run` or `make test` using it.
# `make redis-stop` stops it. Each recipe using it is one shell line, so the exported
# REDIS_URL reaches pytest and pytest's exit status is the recipe's.
ENSURE_REDIS = if [ -z "$${REDIS_URL:-}" ]; then $(EMBEDDED_REDIS) start || exit $$?; fi

.DEFAULT_GOAL := help
.PHONY: help venv run test fuzz bench lint migrate redis-stop clean

help:
	@echo "make run         migrate, create a superuser if none, demo data, start web+worker+beat"
	@echo "make test        the test suite (pytest -n 2; extra arguments in PYTEST_ARGS)"
	@echo "make fuzz        schemathesis over the whole API as admin and staff (FUZZ_ARGS)"
	@echo "make bench       benchmarks (manage.py bench all)"
	@echo "make lint        ruff check"
	@echo "make migrate     apply migrations"
	@echo "make redis-stop  stop the embedded Redis (run, test and bench leave it running)"
	@echo "make clean       remove .venv and caches (never var/: it holds the dev database)"

venv: $(VENV)/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The stamp makes repeated runs instant: pip runs again only when pyproject.toml changed.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev]'
	touch $@

run: venv
	@$(ENSURE_REDIS)
	$(MANAGE) migrate --noinput
	$(MANAGE) ensure_superuser
	$(MANAGE) demo_data --if-empty
	$(MANAGE) collectstatic --noinput -v0
	$(MANAGE) run_system

test: venv
	@$(ENSURE_REDIS); \
	if [ -z "$${REDIS_URL:-}" ]; then REDIS_URL="$$($(EMBEDDED_REDIS) url)"; export REDIS_URL; fi; \
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

# schemathesis over every operation of /api/schema/, once with an admin token and once with a
# staff token, against a throwaway database; prints the counts and fails on any server error
# or schema violation. `make fuzz FUZZ_ARGS="--max-time 60"` bounds each role's run.
FUZZ_ARGS ?=
fuzz: venv
	@$(ENSURE_REDIS); \
	if [ -z "$${REDIS_URL:-}" ]; then REDIS_URL="$$($(EMBEDDED_REDIS) url)"; export REDIS_URL; fi; \
	$(PY) tools/fuzz.py $(FUZZ_ARGS)

bench: venv
	@$(ENSURE_REDIS)
	$(MANAGE) bench all

lint: venv
	$(VENV)/bin/ruff check .

migrate: venv
	$(MANAGE) migrate --noinput

redis-stop: venv
	$(EMBEDDED_REDIS) stop

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
