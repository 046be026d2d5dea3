# Hygie — the two commands: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= sqlite:///./data/hygie.db
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test bench lint install install-test postgres-binaries wrk-binary browser clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/hygie demo --db $(DB) --if-empty
	$(BIN)/hygie serve --db $(DB) --host $(HOST) --port $(PORT)

# The tests start their own throwaway PostgreSQL from the machine's binaries.
postgres-binaries:
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

# The load harness (bench/load, tested in tests/bench) drives Debian's wrk.
wrk-binary:
	@command -v wrk >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)

# The WebAuthn test (tests/auth) drives Debian's headless Chromium through Playwright.
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: install-test postgres-binaries wrk-binary browser
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: install-test postgres-binaries wrk-binary
	$(BIN)/pip install -q -r bench/requirements.txt
	$(BIN)/python -m bench

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) data/*.db*
