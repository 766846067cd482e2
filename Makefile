# Two commands do everything on a fresh machine: `make run` and `make test`.
# Each installs what it needs when it is missing: the venv from pyproject.toml, and Debian packages
# (scripts/ensure-packages.sh: as root through apt-get, otherwise a one-line message naming the package).
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
#: Programs the test suite runs: Debian's Chromium (Playwright drives it), wrk (the small benchmark), and
#: redis-server (private servers for cluster, restore and fault tests). The archive tests need a PostgreSQL on
#: 127.0.0.1:5432 (scripts/ensure-postgres.sh starts a private one when none answers).
TEST_PROGRAMS := chromium wrk redis-server

.PHONY: run test bench venv redis test-packages clean mutate

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

redis:
	@scripts/ensure-redis.sh >/dev/null

test-packages:
	@scripts/ensure-packages.sh --for "make test" $(TEST_PROGRAMS)

run: $(STAMP)
	@PORT=$(PORT) scripts/run.sh

test: test-packages $(STAMP)
	@REDIS_URL="$${SCOREKEEPER_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}" scripts/ensure-redis.sh >/dev/null
	@scripts/ensure-postgres.sh >/dev/null
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP) redis
	@scripts/ensure-packages.sh --for "make bench" wrk redis-server
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache

# Mutation testing of the scoring core (slow; not part of `make test`): mutmut 3 mutates app/scoring/
# and app/automation/triggers.py, runs the fast specification tests that cover each mutant, and
# writes docs/mutation-report.md. MUTATE_CHILDREN parallel test processes (default 1).
MUTATE_CHILDREN ?= 1
mutate: $(STAMP)
	$(BIN)/pip install -q 'mutmut>=3.8,<4'
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(MUTATE_CHILDREN)
	$(BIN)/python scripts/mutation_report.py > docs/mutation-report.md
	@head -12 docs/mutation-report.md
