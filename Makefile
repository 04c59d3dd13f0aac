# Everything runs inside ./.venv, created on first use; nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard protos/llmrouter/v1/*.proto)
# The installed set: every package pinned with its hashes (see "Dependencies" in README.md).
LOCK   := requirements/lock.txt
LOCKED := $(VENV)/.locked
# `make lock` resolves with pip-tools from this scratch venv; pip-tools is not a dependency.
LOCK_VENV := .lock-venv
PIP_TOOLS := pip-tools==7.6.2
# `make bench-peers` runs LiteLLM's proxy from its own venv, never from .venv.
PEERS_VENV := .bench-peers-venv
PEERS_LOCK := requirements/bench-peers.txt
# `make phoenix` runs Arize Phoenix, a local trace viewer, from its own venv, never from .venv.
PHOENIX_VENV := .phoenix-venv
PHOENIX_LOCK := requirements/phoenix.txt
# Phoenix's UI and OTLP/HTTP (/v1/traces) port, and its OTLP/gRPC port.
PHOENIX_PORT ?= 6006
PHOENIX_GRPC_PORT ?= 4317

.PHONY: help venv browser run test soak lint typecheck protos client bench bench-peers lock \
	screenshots phoenix clean

help:
	@echo "make run        set up .venv and start gateway, router and metrics (SQLite, simulated provider)"
	@echo "make test       set up .venv and run the whole test suite (lint and type checks included)"
	@echo "make soak       the reliability scenarios (tests/reliability) at soak counts, minutes long"
	@echo "make protos     regenerate the committed gRPC stubs from protos/llmrouter/v1/*.proto"
	@echo "make client     build dist/llmrouter_client-*.whl: the typed stubs alone (grpcio, protobuf)"
	@echo "make lint       ruff;  make typecheck: mypy --strict (packages and examples/)"
	@echo "make bench      benchmarks (not tests): gateway overhead, throughput, streaming, ingest"
	@echo "make bench-peers  the same upstream behind the floor, llmrouter and LiteLLM's proxy"
	@echo "make lock       re-resolve requirements/*.txt (UPGRADE=1: newest allowed releases)"
	@echo "make screenshots  run tests/dashboard and write its pages to docs/dashboard-*.png"
	@echo "make phoenix    a local trace viewer (Arize Phoenix): UI on 127.0.0.1:6006, OTLP on 4317"

# A new lock means a new venv: built from scratch, it holds exactly the lock's set (pip and
# the build backend included), checked against each pinned hash. Only pip is needed.
$(LOCKED): $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	@touch $(LOCKED)

# The project itself, without dependencies and without build isolation: the pinned
# setuptools builds it, so nothing unpinned is fetched. pip check: the lock covers
# every requirement of pyproject.toml.
$(STAMP): $(LOCKED) pyproject.toml
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	@touch $(STAMP)

venv: $(STAMP)

# tests/dashboard drives Debian's chromium through Playwright (which never downloads a browser
# here). Installed when missing and we are root; if that fails, those tests skip, saying why.
# Only `make test` and `make screenshots` want it: running the product never installs a browser.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get) for tests/dashboard"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq chromium fonts-dejavu-core; } >/dev/null 2>&1 \
	      || echo "warning: chromium could not be installed: tests/dashboard will be skipped"; \
	  else \
	    echo "note: no chromium (apt-get install chromium as root): tests/dashboard will be skipped"; \
	  fi; }

# CONFIG=file.toml picks a config; otherwise llmrouter itself picks $LLMROUTER_CONFIG, else
# ./llmrouter.toml if present, else built-in defaults (llmrouter.config.config_path).
RUN_CONFIG := $(CONFIG)

# A local run: the gateway takes no API key (export LLMROUTER_GATEWAY_AUTH_ENABLED=true to test keys).
run: $(STAMP)
	LLMROUTER_GATEWAY_AUTH_ENABLED="$${LLMROUTER_GATEWAY_AUTH_ENABLED:-false}" \
		$(VENV)/bin/llmrouter serve all $(if $(RUN_CONFIG),--config $(RUN_CONFIG))

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy examples
	$(PY) -m pytest $(PYTEST_ARGS)

# tests/reliability runs inside `make test` at small counts; LLMROUTER_SOAK=1 scales them up
# (10,000-request fault runs, a minute of restarts under load, thousands of fuzz cases).
soak: $(STAMP)
	LLMROUTER_SOAK=1 $(PY) -m pytest tests/reliability -s --timeout 1800 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The packages (pyproject.toml's [tool.mypy]), then examples/ against the installed stubs.
typecheck: $(STAMP)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy examples

protos: $(STAMP)
	$(PY) -m grpc_tools.protoc -I protos --python_out=protos --pyi_out=protos \
		--grpc_python_out=protos $(PROTOS)

# The client distribution (clients/python): the stubs alone, built by the pinned setuptools,
# offline. Its build/ goes first: setuptools would ship a stub deleted since from there.
client: $(STAMP)
	rm -rf clients/python/build
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --no-index -w dist clients/python
	@ls dist/llmrouter_client-*.whl

WRK := command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } || true

bench: $(STAMP)
	@$(WRK)
	$(PY) bench/ingest.py --json bench/results/ingest-sqlite.json
	$(PY) bench/rate_limits.py --json bench/results/rate-limits.json \
		|| echo "bench/rate_limits.py skipped: it needs Redis at 127.0.0.1:6379 (.ci/run starts one)"
	$(PY) bench/budgets.py --json bench/results/budgets.json \
		|| echo "bench/budgets.py skipped: it needs Redis at 127.0.0.1:6379 (.ci/run starts one)"
	$(PY) bench/run.py $(BENCH_ARGS)

$(PEERS_VENV)/.installed: $(PEERS_LOCK)
	rm -rf $(PEERS_VENV)
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --require-hashes -r $(PEERS_LOCK)
	@touch $@

# Not a test, never part of `make test`: minutes of full CPU, results in
# bench/results/<date>-peers.{json,md}.
bench-peers: $(STAMP) $(PEERS_VENV)/.installed
	@$(WRK)
	$(PY) bench/run.py --peers $(BENCH_ARGS)

$(PHOENIX_VENV)/.installed: $(PHOENIX_LOCK)
	rm -rf $(PHOENIX_VENV)
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install --quiet --require-hashes -r $(PHOENIX_LOCK)
	@touch $@

# Not part of `make run` or `make test`. The UI and OTLP/HTTP listen on loopback only; OTLP/gRPC
# listens on every interface (Phoenix binds [::] whatever PHOENIX_HOST says): see README,
# "Traces and metrics". Traces are kept in data/phoenix (SQLite). A trace viewer only: nothing
# fetched from the internet (no telemetry pixels) and no assistant agent (it has a server-side
# shell tool).
phoenix: $(PHOENIX_VENV)/.installed
	@mkdir -p data/phoenix
	PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=$(PHOENIX_PORT) PHOENIX_GRPC_PORT=$(PHOENIX_GRPC_PORT) \
		PHOENIX_WORKING_DIR="$(CURDIR)/data/phoenix" PHOENIX_ALLOW_EXTERNAL_RESOURCES=false \
		PHOENIX_TELEMETRY_ENABLED=false PHOENIX_DISABLE_AGENT_ASSISTANT=true \
		PHOENIX_AGENTS_DISABLE_BASH=true PHOENIX_LOG_MIGRATIONS=false \
		$(PHOENIX_VENV)/bin/phoenix serve

# Re-resolves requirements/*.txt from pyproject.toml and requirements/*.in, keeping every pin
# that still fits; UPGRADE=1 moves all to the newest allowed, UPGRADE_PACKAGE=name just one.
# An upgrade is a commit of its own, with `make bench` figures from before and after.
lock:
	@test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet $(PIP_TOOLS)
	LOCK_VENV=$(LOCK_VENV) UPGRADE="$(UPGRADE)" UPGRADE_PACKAGE="$(UPGRADE_PACKAGE)" \
		sh requirements/compile.sh

# Rewrites the README's screenshots from a real run (the test alone writes them to a temp dir).
screenshots: $(STAMP) browser
	LLMROUTER_SCREENSHOTS=docs $(PY) -m pytest tests/dashboard -q

clean:
	rm -rf $(VENV) $(LOCK_VENV) $(PEERS_VENV) $(PHOENIX_VENV) .mypy_cache .pytest_cache .ruff_cache
