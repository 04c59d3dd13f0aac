# Everything runs inside ./.venv, created on first use; nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard protos/llmrouter/v1/*.proto)

.PHONY: help venv run test lint typecheck protos bench clean

help:
	@echo "make run        set up .venv and start gateway, router and metrics (SQLite, simulated provider)"
	@echo "make test       set up .venv and run the whole test suite (lint and type checks included)"
	@echo "make protos     regenerate the committed gRPC stubs from protos/llmrouter/v1/*.proto"
	@echo "make lint       ruff;  make typecheck: mypy --strict"
	@echo "make bench      benchmarks (not tests): usage ingest; results under bench/results/"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# CONFIG=file.toml picks a config; otherwise ./llmrouter.toml if present, else built-in defaults.
RUN_CONFIG := $(or $(CONFIG),$(wildcard llmrouter.toml))

# A local run: the gateway takes no API key (export LLMROUTER_GATEWAY_AUTH_ENABLED=true to test keys).
run: $(STAMP)
	LLMROUTER_GATEWAY_AUTH_ENABLED="$${LLMROUTER_GATEWAY_AUTH_ENABLED:-false}" \
		$(VENV)/bin/llmrouter serve all $(if $(RUN_CONFIG),--config $(RUN_CONFIG))

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

protos: $(STAMP)
	$(PY) -m grpc_tools.protoc -I protos --python_out=protos --pyi_out=protos \
		--grpc_python_out=protos $(PROTOS)

bench: $(STAMP)
	$(PY) bench/ingest.py --json bench/results/ingest-sqlite.json

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
