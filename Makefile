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
# Where `make install` puts uv when pip may not install it for the user (a Debian/Ubuntu system Python, PEP 668)
UV_VENV = $(HOME)/.local/share/hss-uv
PYTEST_ARGS ?=
# The unit layers (everything but the full stack) on every core with pytest-xdist; none of them starts a stack.
UNIT_PYTEST = -n $(TEST_CPUS) --dist worksteal --durations=15 -p no:cacheprovider --ignore=e2e/tests/full_stack
TEST_CPUS ?= auto
# The full-stack tests (e2e/tests/full_stack/conftest.py), the fault tests last on their stack. The whole suite runs
# on two stacks side by side (pytest-xdist), the fault tests on the second: 454 s against 597 s on one stack here
# (2 cores, docs/TESTING.md), about 7 GiB at peak; CI uses three (E2E_STACKS=3: the fault tests split over two,
# about 10 GiB). A part of it (PYTEST_ARGS) or a reused stack: one stack, live output. E2E_STACKS=1|2|3 decides.
E2E_STACKS ?= $(if $(strip $(PYTEST_ARGS)$(REUSE_STACK)),1,2)
# make e2e E2E_SCOPE=both: only the tests CI runs on both backends (marked both_backends, plus docker_only)
E2E_SCOPE ?= all
FULL_STACK_PYTEST = -n $(if $(filter 1,$(E2E_STACKS)),0,$(E2E_STACKS)) --durations=15 -p no:cacheprovider e2e/tests/full_stack
DEMO_ARGS ?=
# make e2e REUSE_STACK=1: run the full-stack tests on the stack `make up` left running, when one answers
REUSE_STACK ?=
# Full-stack backend: auto = docker when a daemon answers, else local processes (PostgreSQL, Redis, Celery…)
E2E_BACKEND ?= auto
# Celery workers of `make up` (compose: --scale airflow-worker=N; local: N worker processes)
WORKERS ?= 1
# workflow-audio replicas behind its HAProxy balancer (compose: --scale workflow-audio=N; local: N processes)
AUDIO_REPLICAS ?= 1
LOAD_PROFILE ?= default
LOAD_ARGS ?=
# make soak: minutes of the Locust mix plus DAG runs against the make-up stack
SOAK_MIN ?= 10
BENCH_ARGS ?=
# make fuzz: cases per operation in the fuzzing phase (HSS_FUZZ_EXAMPLES; the CI subset runs 40). 1000 gives
# every service more than 1,000 cases; the run prints the count per service at the end.
FUZZ_EXAMPLES ?= 1000
# make fuzz HSS_FUZZ_SEED=N: other cases than the fixed default seed
HSS_FUZZ_SEED ?=
# The suites `make fuzz` runs deep; each reads HSS_FUZZ_EXAMPLES: the services in-process, then on a full stack
# (E2E_BACKEND) every DAG's params through the REST trigger and the hostile audio files.
FUZZ_TESTS = services/tests/test_fuzz_schemathesis.py
FUZZ_TESTS += e2e/tests/full_stack/test_param_fuzz.py e2e/tests/full_stack/test_hostile_audio.py
# make dags-deploy FORCE=1: commit even a DAG file that does not import (Airflow then takes its DAGs out of service)
FORCE ?=
# Debian packages the local full stack, the compose checks and the browser test need, by the command that proves each one
# ("dpkg:" a library, checked with dpkg-query). Metrics: Prometheus (+ promtool for the rule tests), Alertmanager and
# collectd, the StatsD bridge, whose write_prometheus plugin needs the two libraries. HAProxy: workflow-audio's balancer.
# Debian starts a system service for some of them, listening on every interface (Prometheus on 9090): when make install
# just installed one, it stops and disables it (package:service), so only the stacks' own run.
SYSTEM_SERVICES = prometheus:prometheus prometheus-alertmanager:prometheus-alertmanager collectd-core:collectd \
  haproxy:haproxy
SYSTEM_DEPS = initdb:postgresql redis-server:redis-server docker-compose:docker-compose chromium:chromium \
  promtool:prometheus prometheus-alertmanager:prometheus-alertmanager collectd:collectd-core \
  dpkg:libprotobuf-c1 dpkg:libmicrohttpd12 haproxy:haproxy

.PHONY: help system-deps install test test-unit fuzz e2e up down status dags-deploy dags-rollback dags-history load soak bench lint format contracts bench-audio demo clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "  make demo DEMO_ARGS=--keep-running    leave the demo stack up for the UI (Ctrl-C stops it)"
	@echo "  make demo DEMO_ARGS='--data-root PATH --state-dir PATH'    elsewhere than .stack/"
	@echo "  make e2e E2E_BACKEND=local|docker    force a backend (auto: docker when a daemon answers)"
	@echo "  make up WORKERS=3                    three Celery workers (compose: --scale airflow-worker=3)"
	@echo "  make up AUDIO_REPLICAS=2             two workflow-audio replicas behind HAProxy (compose: --scale workflow-audio=2)"
	@echo "  make up E2E_BACKEND=local            the local-process stack even where Docker runs"
	@echo "  make e2e PYTEST_ARGS='-k faults'     a part of the full-stack tests"
	@echo "  make e2e REUSE_STACK=1 PYTEST_ARGS='-k hostile'    on the stack make up left running (no start, no stop)"
	@echo "  make e2e E2E_SCOPE=both              only what CI runs on both backends (both_backends, docker_only)"
	@echo "  make e2e E2E_STACKS=1|3              the whole suite on 1 or 3 stacks (default: 2 side by side, ~7 GiB)"
	@echo "  make test TEST_CPUS=4                the unit layers on 4 xdist workers (default: one per core)"
	@echo "  make fuzz FUZZ_EXAMPLES=3000 HSS_FUZZ_SEED=7    deeper, other cases than the fixed seed's"
	@echo "  make dags-deploy FORCE=1             commit even a file that does not import (its DAGs go stale)"
	@echo "  make load LOAD_PROFILE=smoke         a short load run (profiles in load/profiles.toml)"
	@echo "  make bench BENCH_ARGS='--only audio --quick'    a part, tiny inputs (report under artifacts/bench/)"
	@echo "  make bench BENCH_ARGS='--compare origin/main'    analysis+batch of that commit vs this tree, interleaved; ratios"
	@echo "  make load LOAD_PROFILE=services-50 LOAD_ARGS='--user-classes ContentUser'    one light service"

system-deps: ## Install Debian's postgresql, redis-server, docker-compose, prometheus, alertmanager, collectd, haproxy when missing
	@missing=""; for dep in $(SYSTEM_DEPS); do cmd=$${dep%%:*}; pkg=$${dep##*:}; \
	  if [ "$$cmd" = dpkg ]; then dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" && continue; \
	  else command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || ls /usr/lib/postgresql/*/bin/$$cmd >/dev/null 2>&1 && continue; fi; \
	  missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "warning: missing:$$missing and no apt-get. make demo works without them; make up/e2e/test need them."; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else \
	  echo "warning: missing:$$missing; not root and no sudo: run 'apt-get install -y$$missing' as root."; exit 0; fi; \
	echo "installing from Debian:$$missing"; \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	status=$$?; [ $$status = 0 ] || exit $$status; \
	if [ -d /run/systemd/system ]; then for unit in $(SYSTEM_SERVICES); do \
	  case " $$missing " in *" $${unit%%:*} "*) $$SUDO systemctl disable --now $${unit##*:} >/dev/null 2>&1 && \
	    echo "stopped and disabled the system $${unit##*:} service its package started: the stacks run their own, on 127.0.0.1" \
	    || true;; esac; done; fi

install: system-deps ## Install uv if missing, then the locked environment (.venv) — under a minute on a fresh machine
	@command -v uv >/dev/null 2>&1 || [ -x "$(HOME)/.local/bin/uv" ] || { \
	  echo "uv not found: installing it from PyPI into ~/.local/bin (pip --user; a private venv where the system Python refuses that, PEP 668)"; \
	  python3 -m pip install --quiet --user uv 2>/dev/null || { python3 -m venv "$(UV_VENV)" \
	    && "$(UV_VENV)/bin/pip" install --quiet uv && mkdir -p "$(HOME)/.local/bin" \
	    && ln -sf "$(UV_VENV)/bin/uv" "$(HOME)/.local/bin/uv"; } \
	  || { echo "could not install uv: install it yourself (https://docs.astral.sh/uv/) and run make install again"; exit 1; }; }
	$(UV) sync --frozen

test: install ## What CI runs first: lint, then the unit layers on every core (no stack); prints each phase's time
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint || exit $$?; echo "make test: lint in $$(( $$(date +%s) - start )) s"; \
	$(RUN) pytest $(UNIT_PYTEST) $(PYTEST_ARGS); code=$$?; echo "make test: $$(( $$(date +%s) - start )) s in all, exit $$code"; \
	exit $$code

test-unit: install ## The unit layers on every core, without the slow ones (real Essentia runs, training)
	$(RUN) pytest $(UNIT_PYTEST) -m "not slow" $(PYTEST_ARGS)

fuzz: install ## Deep fuzz: schemathesis on the five services (>= 1,000 cases each), every DAG's params over REST, hostile audio
	@start=$$(date +%s); E2E_BACKEND=$(E2E_BACKEND) HSS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(if $(HSS_FUZZ_SEED),HSS_FUZZ_SEED=$(HSS_FUZZ_SEED),) \
	  $(RUN) pytest -q -p no:cacheprovider --timeout 900 $(FUZZ_TESTS) $(PYTEST_ARGS); \
	code=$$?; echo "make fuzz: $$(( $$(date +%s) - start )) s, exit $$code"; exit $$code

e2e: install ## Full-stack DAG runs, faults, bad input, auth (E2E_BACKEND=auto|docker|local; logs in artifacts/e2e/)
	@start=$$(date +%s); E2E_BACKEND=$(E2E_BACKEND) HSS_E2E_REUSE=$(REUSE_STACK) HSS_E2E_SCOPE=$(E2E_SCOPE) $(RUN) pytest -v -s $(FULL_STACK_PYTEST) $(PYTEST_ARGS); \
	code=$$?; echo "make e2e: $$(( $$(date +%s) - start )) s, exit $$code"; exit $$code

up: install ## Start the full stack in the background (docker if a daemon answers, else local processes); prints URLs + login
	E2E_BACKEND=$(E2E_BACKEND) $(RUN) python -m stack --workers $(WORKERS) --audio-replicas $(AUDIO_REPLICAS) up

down: ## Stop what `make up` started
	$(RUN) python -m stack down

status: ## Show what `make up` runs (.stack/stack.json) and whether each part answers
	$(RUN) python -m stack status

dags-deploy: ## Commit airflow/dags into the running full stack's Git DAG bundle hss-dags (a new DAG version)
	$(RUN) python -m stack.dags deploy $(if $(FORCE),--force,)

dags-rollback: ## Make the previous deploy's DAG content current again, as a new DAG version
	$(RUN) python -m stack.dags rollback

dags-history: ## The deploys of the running full stack's DAG repository, newest first
	$(RUN) python -m stack.dags history

load: install ## Locust against the make-up stack (started when none is up): totals, PASS/FAIL per threshold, reports in load/reports/
	E2E_BACKEND=$(E2E_BACKEND) $(RUN) python -m load.run --profile $(LOAD_PROFILE) $(LOAD_ARGS)

soak: install ## SOAK_MIN minutes (default 10) of the Locust mix + DAG runs: errors, every run's state, memory growth per process
	E2E_BACKEND=$(E2E_BACKEND) $(RUN) python -m load.soak --minutes $(SOAK_MIN)

bench: install ## Benchmarks vs targets and physical limits (audio, light services, DAG runs, growth); writes docs/PERFORMANCE.md
	$(RUN) python -m load.bench $(BENCH_ARGS)

lint: ## ruff lint + format check + import layers (import-linter; contracts in pyproject.toml)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	PYTHONPATH=airflow $(RUN) lint-imports --no-cache

format: ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

contracts: ## Regenerate contracts/openapi/<service>.json from the running apps
	$(RUN) python -m services.openapi_snapshot

bench-audio: ## Time Essentia on a 30 s song called directly vs through workflow-audio (median of 5)
	$(RUN) python -m load.bench.audio_direct

demo: install ## The main job: services + Airflow (SQLite, LocalExecutor) in .stack/, train, analyse a song, show results
	$(RUN) python -m stack.demo $(DEMO_ARGS)

clean: ## Remove caches, local data, .stack/ and artifacts/ (keeps .venv and .env); run make down first
	rm -rf .pytest_cache .ruff_cache .import_linter_cache .hypothesis data .stack artifacts
