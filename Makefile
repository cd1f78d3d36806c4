# HSS Workflow on Apache Airflow 3 — every command a user or CI needs.
# `make help` lists the targets. Everything runs from the uv-managed .venv.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Keep uv on the machine's Python 3.11: a managed-Python download is not reachable everywhere.
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE ?= copy
# Byte-compile at install: every later process (services, pool workers, Airflow) starts seconds faster.
export UV_COMPILE_BYTECODE := 1
# Looked up when a recipe runs, not when make parses this file: `install` may have just put uv there.
UV = $$(command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN = $(UV) run --frozen --no-sync
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: help system-deps install test test-unit lint format contracts bench-audio demo clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "  make demo DEMO_ARGS=--keep-running    leave the demo stack up for the UI (Ctrl-C stops it)"
	@echo "  make demo DEMO_ARGS='--data-root PATH --state-dir PATH'    elsewhere than .stack/"

system-deps: ## Install Debian's docker-compose (validates the compose files without a daemon) if missing
	@command -v docker-compose >/dev/null 2>&1 || { \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "docker-compose not found and no apt-get: install docker-compose yourself (the compose config tests need it)"; \
	  elif [ "$$(id -u)" = 0 ]; then \
	    echo "docker-compose not found: apt-get install -y docker-compose"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1; then \
	    echo "docker-compose not found: sudo apt-get install -y docker-compose"; \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; \
	  else \
	    echo "docker-compose not found and not root/no sudo: run 'apt-get install -y docker-compose' as root"; \
	  fi; }

install: system-deps ## Install uv if missing, then the locked environment (.venv) — under a minute on a fresh machine
	@command -v uv >/dev/null 2>&1 || [ -x "$(HOME)/.local/bin/uv" ] || { \
	  echo "uv not found: installing it with pip (python3 -m pip install --user uv)"; \
	  python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv; }
	$(UV) sync --frozen

test: install ## What CI runs: lint, contract snapshots, service/fuzz tests, operators and dag.test() runs against live services, the demo
	$(MAKE) --no-print-directory lint
	$(RUN) pytest $(PYTEST_ARGS)

test-unit: install ## Only the fast tests (skips the ones marked slow: real Essentia runs, training)
	$(RUN) pytest -m "not slow" $(PYTEST_ARGS)

lint: ## ruff lint + format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

contracts: ## Regenerate contracts/openapi/<service>.json from the running apps
	$(RUN) python -m services.common.openapi_snapshot

bench-audio: ## Time Essentia on a 30 s song called directly vs through workflow-audio (median of 5)
	$(RUN) python -m services.audio.bench

demo: install ## The main job: services + Airflow (SQLite, LocalExecutor) in .stack/, train, analyse a song, show results
	$(RUN) python -m e2e.demo $(DEMO_ARGS)

clean: ## Remove caches, local data and the demo state folder .stack/ (keeps .venv)
	rm -rf .pytest_cache .ruff_cache .hypothesis data .stack
