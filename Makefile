# Everything runs inside ./.venv, created on first use; nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard protos/llmrouter/v1/*.proto)

.PHONY: help venv browser run test soak lint typecheck protos bench screenshots clean

help:
	@echo "make run        set up .venv and start gateway, router and metrics (SQLite, simulated provider)"
	@echo "make test       set up .venv and run the whole test suite (lint and type checks included)"
	@echo "make soak       the reliability scenarios (tests/reliability) at soak counts, minutes long"
	@echo "make protos     regenerate the committed gRPC stubs from protos/llmrouter/v1/*.proto"
	@echo "make lint       ruff;  make typecheck: mypy --strict"
	@echo "make bench      benchmarks (not tests): gateway overhead, throughput, streaming, ingest"
	@echo "make screenshots  run tests/dashboard and write its pages to docs/dashboard-*.png"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@$(MAKE) --no-print-directory browser
	@touch $(STAMP)

venv: $(STAMP)

# tests/dashboard drives Debian's chromium through Playwright (which never downloads a browser
# here). Installed when missing and we are root; if that fails, those tests skip, saying why.
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

# CONFIG=file.toml picks a config; otherwise ./llmrouter.toml if present, else built-in defaults.
RUN_CONFIG := $(or $(CONFIG),$(wildcard llmrouter.toml))

# A local run: the gateway takes no API key (export LLMROUTER_GATEWAY_AUTH_ENABLED=true to test keys).
run: $(STAMP)
	LLMROUTER_GATEWAY_AUTH_ENABLED="$${LLMROUTER_GATEWAY_AUTH_ENABLED:-false}" \
		$(VENV)/bin/llmrouter serve all $(if $(RUN_CONFIG),--config $(RUN_CONFIG))

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

# tests/reliability runs inside `make test` at small counts; LLMROUTER_SOAK=1 scales them up
# (10,000-request fault runs, a minute of restarts under load, thousands of fuzz cases).
soak: $(STAMP)
	LLMROUTER_SOAK=1 $(PY) -m pytest tests/reliability -s --timeout 1800 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

protos: $(STAMP)
	$(PY) -m grpc_tools.protoc -I protos --python_out=protos --pyi_out=protos \
		--grpc_python_out=protos $(PROTOS)

bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } || true
	$(PY) bench/ingest.py --json bench/results/ingest-sqlite.json
	$(PY) bench/run.py

# Rewrites the README's screenshots from a real run (the test alone writes them to a temp dir).
screenshots: $(STAMP) browser
	LLMROUTER_SCREENSHOTS=docs $(PY) -m pytest tests/dashboard -q

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
