"""Every front door answers without ``/v1`` too (as the FastAPI router llmrouter replaces did,
for clients whose base URL lacks it): same endpoint, authentication, errors and metric label;
the alias comes from how a route is declared (gateway.front_doors), and a ``/v1`` route
declared without one fails here. Operator routes keep their one path."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import BaseRoute, Route

from gateway import GatewayConfig, create_app
from gateway.front_doors import Alias, OperatorRoute, front_door, operator_route, route_labels
from gateway.observability import route_label

from .support import FakeRouter

CHAT_BODY = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


async def _endpoint(request: object) -> None:  # pragma: no cover - never served
    raise AssertionError


def unaliased(routes: Sequence[BaseRoute]) -> list[str]:
    """The ``/v1`` routes that are neither operator routes nor served without ``/v1`` by the
    same endpoint with the same methods."""
    aliases = {
        (r.path, r.endpoint, frozenset(r.methods or ())) for r in routes if isinstance(r, Alias)
    }
    return [
        r.path
        for r in routes
        if isinstance(r, Route)
        and r.path.startswith("/v1/")
        and not isinstance(r, OperatorRoute)
        and (r.path.removeprefix("/v1"), r.endpoint, frozenset(r.methods or ())) not in aliases
    ]


def test_every_v1_route_of_the_app_has_its_alias_or_is_an_operator_route() -> None:
    app = create_app(GatewayConfig(auth_enabled=False))
    routes = list(app.routes)

    assert unaliased(routes) == []
    served = {r.path for r in routes if isinstance(r, Alias)}
    assert {"/chat/completions", "/route", "/models", "/models/{model:path}"} <= served
    # Reports and admin controls stay under /v1 only.
    assert not any(r.path.startswith(("/admin", "/costs", "/usage")) for r in routes)


def test_a_v1_route_declared_without_front_door_is_caught() -> None:
    declared: list[BaseRoute] = [
        *front_door("/v1/chat/completions", _endpoint, methods=["POST"]),
        operator_route("/v1/costs", _endpoint, methods=["GET"]),
        # What a future front door would look like if declared by hand: no alias.
        Route("/v1/messages", _endpoint, methods=["POST"]),
    ]
    assert unaliased(declared) == ["/v1/messages"]


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_answers_the_same_without_v1(client: httpx.AsyncClient, stream: bool) -> None:
    body = {**CHAT_BODY, "stream": stream}
    with_v1 = await client.post("/v1/chat/completions", json=body)
    without = await client.post("/chat/completions", json=body)

    assert (with_v1.status_code, without.status_code) == (200, 200)
    assert without.headers["content-type"] == with_v1.headers["content-type"]
    if stream:
        assert without.text.endswith("data: [DONE]\n\n")
    else:
        assert without.json()["choices"] == with_v1.json()["choices"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/chat/completions"), ("POST", "/route"), ("GET", "/models"), ("GET", "/models/x")],
)
async def test_aliases_need_the_same_key(
    client: httpx.AsyncClient, router: FakeRouter, method: str, path: str
) -> None:
    response = await client.request(
        method,
        path,
        json=CHAT_BODY if method == "POST" else None,
        headers={"authorization": "Bearer sk-wrong"},
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert router.requests == []


async def test_alias_errors_are_the_v1_routes(client: httpx.AsyncClient) -> None:
    wrong_method = await client.get("/chat/completions")
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")
    bad = await client.post("/chat/completions", json={"model": "auto"})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "messages"
    missing = await client.get("/models/gpt-9")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    # Operator routes have no alias.
    assert (await client.get("/admin/models")).status_code == 404
    assert (await client.get("/costs")).status_code == 404


async def test_alias_requests_count_under_the_v1_template(client: httpx.AsyncClient) -> None:
    await client.post("/chat/completions", json=CHAT_BODY)
    await client.post("/v1/chat/completions", json=CHAT_BODY)
    await client.get("/models")
    await client.get("/models/sim-small")
    await client.get("/v1/models/gpt-4o-mini")
    text = (await client.get("/metrics")).text

    counted: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "llmrouter_gateway_requests_total":
                key = (sample.labels["method"], sample.labels["route"])
                counted[key] = counted.get(key, 0) + sample.value
    assert counted[("POST", "/v1/chat/completions")] == 2
    assert counted[("GET", "/v1/models")] == 1
    assert counted[("GET", "/v1/models/{model}")] == 2
    assert not any(route.startswith(("/chat", "/models")) for _, route in counted)
    assert "sim-small" not in text


async def test_openapi_lists_each_alias(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    for path in ("/chat/completions", "/route", "/models", "/models/{model}"):
        assert paths[path].keys() == paths[f"/v1{path}"].keys()
        for operation in paths[path].values():
            assert f"alias of /v1{path}" in operation["summary"]
    assert "/costs" not in paths


def test_spans_of_an_alias_are_named_by_the_v1_template() -> None:
    # TracingMiddleware names spans and sets http.route with route_label, from the route
    # Starlette matched (scope["route"]).
    routes = front_door("/v1/models/{model:path}", _endpoint, methods=["GET"])
    labels = route_labels(routes)
    for route in routes:
        assert route_label({"route": route}, labels) == "/v1/models/{model}"
    assert route_label({"route": Route("/x", _endpoint)}, labels) == "other"
