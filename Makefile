# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench venv redis clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

redis:
	@scripts/ensure-redis.sh

run: $(STAMP) redis
	$(BIN)/honcho start -f Procfile -p $(PORT)

test: $(STAMP) redis
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP) redis
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
