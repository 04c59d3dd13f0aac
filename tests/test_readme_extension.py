"""The README's quick start cannot drift: its `llmrouter` request extension (table, curl and
`openai` SDK examples) runs against a real `serve all` stack and matches what the gateway
accepts, and its ports table matches the config.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import GatewayConfig
from gateway.translate.chat_request import _ROUTER_KEYS
from llmrouter.chat_rules import PREFERENCE_KEYS
from metrics_svc.config import MetricsConfig
from router_svc.config import RouterConfig
from tests.conftest import free_port
from tests.serve_all import serve_all

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
EXTENSION = "### Routing options in a request: `llmrouter`"
PORTS = "### Ports and a config file"
DEFAULTS = {"gateway": GatewayConfig(), "router": RouterConfig(), "metrics": MetricsConfig()}


def _section(title: str) -> str:
    start = README.index(title)
    return README[start : README.index("\n#", start + len(title))]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def _table(text: str) -> list[list[str]]:
    """The body rows of the (first) Markdown table in ``text``, as lists of cells."""
    rows = [line for line in text.splitlines() if line.startswith("|")][2:]  # header, ---
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def _curl_example() -> tuple[str, dict[str, Any]]:
    (curl,) = [b for b in _blocks(_section(EXTENSION), "sh") if b.startswith("curl")]
    path = re.search(r"localhost:8080(/\S+)", curl)
    body = re.search(r"-d '(.*)'", curl, re.S)
    assert path is not None, curl
    assert body is not None, curl
    return path.group(1), json.loads(body.group(1))


def test_the_table_lists_exactly_the_fields_the_gateway_takes() -> None:
    rows = _table(_section(EXTENSION))
    fields = [re.sub(r"`", "", row[0]) for row in rows]

    assert sorted(fields) == sorted(f"llmrouter.{key}" for key in _ROUTER_KEYS)
    (preferences,) = [row for row in rows if row[0] == "`llmrouter.preferences`"]
    for key in PREFERENCE_KEYS:
        assert f"`{key}`" in preferences[1]


def test_the_examples_use_only_documented_fields() -> None:
    _, body = _curl_example()
    (python,) = _blocks(_section(EXTENSION), "python")
    sdk = re.search(r"extra_body=(\{.*?\n    \}),\n\)", python, re.S)
    assert sdk is not None, python

    assert set(body["llmrouter"]) <= set(_ROUTER_KEYS)
    assert set(body["llmrouter"]["preferences"]) <= set(PREFERENCE_KEYS)
    # Both examples ask the same of the router.
    assert ast.literal_eval(sdk.group(1)) == {"llmrouter": body["llmrouter"]}


def test_the_ports_table_matches_the_config() -> None:
    rows = _table(_section(PORTS))

    assert len(rows) == 5
    for listener, key, variable, default in rows:
        section, _, name = key.strip("`").partition(".")
        assert variable.strip("`") == f"LLMROUTER_{section.upper()}_{name.upper()}"
        assert default.split()[0] == str(getattr(DEFAULTS[section], name)), listener


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `serve all` (simulated provider, auth off as with `make run`) on free ports."""
    port = free_port()
    env = {
        "LLMROUTER_GATEWAY_AUTH_ENABLED": "false",
        "LLMROUTER_GATEWAY_PORT": str(port),
        "LLMROUTER_ROUTER_PORT": str(free_port()),
        "LLMROUTER_METRICS_PORT": str(free_port()),
        "LLMROUTER_ROUTER_PROMETHEUS_PORT": "0",
        "LLMROUTER_METRICS_PROMETHEUS_PORT": "0",
    }
    with serve_all(tmp_path_factory.mktemp("stack"), env):
        yield f"http://127.0.0.1:{port}"


def test_the_curl_example_routes_as_documented(stack: str) -> None:
    path, body = _curl_example()

    reply = httpx.post(f"{stack}{path}", json=body, timeout=30)
    decision = httpx.post(f"{stack}/v1/route", json=body, timeout=30)

    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"]
    assert decision.status_code == 200, decision.text
    route = decision.json()
    assert (route["category"], route["category_source"]) == ("code", "pinned")
    # Weights given: candidates are ordered by score, not by chain order.
    scores = [candidate["score"] for candidate in route["candidates"]]
    assert any(scores), route
    assert scores == sorted(scores, reverse=True), route
    # An unknown key is refused, naming it.
    typo = {**body, "llmrouter": {**body["llmrouter"], "categroy": "code"}}
    refused = httpx.post(f"{stack}{path}", json=typo, timeout=30)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "llmrouter.categroy"


def test_the_openai_sdk_example_runs_unchanged(stack: str) -> None:
    (python,) = _blocks(_section(EXTENSION), "python")
    assert "http://localhost:8080/v1" in python

    done = subprocess.run(
        [sys.executable, "-c", python.replace("http://localhost:8080/v1", f"{stack}/v1")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    model, _, content = done.stdout.partition(" ")
    assert model.startswith("sim-"), done.stdout
    assert content.strip(), done.stdout
    # The ledger has the request under the category and source the example gave.
    deadline = time.monotonic() + 20
    groups: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not groups:
        report = httpx.get(
            f"{stack}/v1/costs", params={"since": "1h", "group_by": "category,source"}, timeout=10
        )
        groups = [
            g for g in report.json()["groups"] if (g["category"], g["source"]) == ("code", "ci-bot")
        ]
        time.sleep(0.3)
    assert groups, report.text
    assert groups[0]["requests"] >= 1


def test_the_served_schema_knows_the_same_fields(stack: str) -> None:
    schema = httpx.get(f"{stack}/openapi.json", timeout=10).json()
    request = schema["components"]["schemas"]
    found = [s for s in request.values() if "llmrouter" in s.get("properties", {})]
    assert found, "no request schema with an llmrouter property"
    options = found[0]["properties"]["llmrouter"]
    assert set(options["properties"]) == set(_ROUTER_KEYS)
    assert set(options["properties"]["preferences"]["properties"]) == set(PREFERENCE_KEYS)
