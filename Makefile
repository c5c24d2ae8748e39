# jiayuan — the two commands a newcomer runs: `make demo` and `make test`.
# Everything the project needs is installed from here (pyproject.toml, package.json, apt).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
SEED ?= 1
SCALE ?= small
PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres
PYTEST_WORKERS ?= 2

.PHONY: help install demo serve test lint typecheck checks test-sqlite test-postgres browser-deps bench clean

help:
	@echo "make demo   # install, build the Yantai demo city, serve on http://127.0.0.1:$(PORT)"
	@echo "make test   # install, lint, type-check, Django checks, tests on SQLite and PostgreSQL"
	@echo "make bench  # run the benchmarks in bench/ and print one JSON document"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

demo: install
	$(BIN)/jiayuan migrate --noinput
	$(BIN)/jiayuan route train --if-missing
	$(BIN)/jiayuan demo-data --scale $(SCALE) --seed $(SEED)
	@echo "Open311 demo API key (演示接口密钥): $$($(BIN)/jiayuan open311 demo-key | tail -1)"
	@echo "家园 jiayuan: http://127.0.0.1:$(PORT)/  (Ctrl-C to stop; the worker runs beside it)"
	@$(BIN)/jiayuan worker --interval 30 > var/worker.log 2>&1 & WORKER=$$!; \
	  trap 'kill $$WORKER 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/jiayuan runserver 127.0.0.1:$(PORT) --noreload

serve: install
	$(BIN)/jiayuan runserver 127.0.0.1:$(PORT)

# Debian's chromium and the CJK fonts (without them Chinese renders as boxes) for browser tests.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! (fc-list 2>/dev/null | grep -qi "Noto Sans CJK"); then \
	  echo "Installing chromium and fonts-noto-cjk with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy jiayuan bench

checks: install
	$(BIN)/jiayuan check --fail-level WARNING
	$(BIN)/jiayuan makemigrations --check --dry-run
	JIAYUAN_DEBUG=0 JIAYUAN_SECRET_KEY=check-deploy-$$(date +%s)-0123456789abcdefghijklmnopqrstuvwxyz \
	  JIAYUAN_ALLOWED_HOSTS=jiayuan.example.org $(BIN)/jiayuan check --deploy --fail-level WARNING

test-sqlite: install browser-deps
	$(BIN)/pytest -n $(PYTEST_WORKERS)

test-postgres: install browser-deps
	@if $(BIN)/python bench/pg_available.py "$(PG_URL)"; then \
	  JIAYUAN_DATABASE_URL="$(PG_URL)" $(BIN)/pytest -n $(PYTEST_WORKERS); \
	elif [ -n "$$CI" ]; then \
	  echo "PostgreSQL at $(PG_URL) is unreachable and CI is set: failing."; exit 1; \
	else \
	  echo "*** PostgreSQL at $(PG_URL) is unreachable: the PostgreSQL test run was SKIPPED. ***"; \
	fi

test: lint typecheck checks test-sqlite test-postgres

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf var test-artifacts
