"""``GET /v1/models`` and ``GET /v1/models/{model}`` (OpenAI API reference, "Models": List
models, Retrieve model): ``auto``, the categories and every model, enabled or not, as OpenAI's
model objects with llmrouter's fields; each answer valid against the served OpenAPI schema;
an unknown id a 404 in OpenAI's shape. The fake router serves RouterService over real gRPC."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from gateway.openapi import document
from gateway.translate import model_json, models_list
from llmrouter.v1 import router_service_pb2

from .support import FakeRouter

P = router_service_pb2


def schema(name: str) -> dict[str, Any]:
    """The served document's schema ``name``, its references resolvable."""
    return {"$ref": f"#/components/schemas/{name}", **document(auth_enabled=True)}


def info(name: str, **fields: Any) -> P.ModelInfo:
    caps = fields.pop("caps", {})
    return P.ModelInfo(
        name=name,
        provider=fields.pop("provider", "openai"),
        enabled=fields.pop("enabled", True),
        capabilities=P.Capabilities(streaming=True, **caps),
        **fields,
    )


LISTING = P.ListModelsResponse(
    models=[
        info(
            "gpt-4o",
            context_window=128_000,
            context_window_source="genai-prices",
            input_price_per_million=2.5,
            output_price_per_million=10.0,
            cache_read_price_per_million=1.25,
            cache_write_price_per_million=2.5,
            cache_write_1h_price_per_million=5.0,
            input_price_source=P.PRICE_SOURCE_GENAI_PRICES,
            output_price_source=P.PRICE_SOURCE_GENAI_PRICES,
            cache_read_price_source=P.PRICE_SOURCE_GENAI_PRICES,
            cache_write_price_source=P.PRICE_SOURCE_INPUT_PRICE,
            cache_write_1h_price_source=P.PRICE_SOURCE_INPUT_PRICE,
            caps={"tools": True, "vision": True},
            aliases=["omni"],
        ),
        info(
            "llama",
            provider="ollama",
            local=True,
            context_window=8192,
            context_window_source="config",
            max_output_tokens=2048,
            input_price_source=P.PRICE_SOURCE_LOCAL,
            caps={"reasoning": True},
        ),
        info("mystery", enabled=False, caps={"json_mode": True}),
    ],
    categories=[
        P.CategoryInfo(name="code", chain=["mystery", "llama", "gpt-4o"]),
        P.CategoryInfo(name="offline", chain=["llama"]),
        # Shadowed by the model of that name: not listed as a category.
        P.CategoryInfo(name="llama", chain=["gpt-4o"]),
        P.CategoryInfo(name="dead", chain=["mystery"]),
    ],
    default_chain=["gpt-4o"],
)


def test_auto_then_categories_then_every_model() -> None:
    data = models_list(LISTING)["data"]

    assert [(d["id"], d["type"]) for d in data] == [
        ("auto", "category"),
        ("code", "category"),
        ("offline", "category"),
        ("dead", "category"),
        ("gpt-4o", "model"),
        ("llama", "model"),
        ("mystery", "model"),
    ]
    jsonschema.validate(models_list(LISTING), schema("ModelList"))


def test_a_model_carries_window_capabilities_and_prices_with_sources() -> None:
    gpt = model_json(LISTING, "gpt-4o")
    assert gpt is not None
    assert {k: gpt[k] for k in ("id", "object", "created", "owned_by")} == {
        "id": "gpt-4o",
        "object": "model",
        "created": 0,
        "owned_by": "openai",
    }
    assert (gpt["context_window"], gpt["context_window_source"]) == (128_000, "genai-prices")
    assert gpt["max_output_tokens"] is None  # unknown
    assert gpt["capabilities"] == {
        "tools": True,
        "vision": True,
        "json_mode": False,
        "streaming": True,
        "reasoning": False,
        "embeddings": False,
    }
    assert (gpt["dimensions"], gpt["max_inputs_per_request"]) == (None, None)
    assert gpt["pricing"] == {
        "unit": "USD per 1M tokens",
        "input": 2.5,
        "output": 10.0,
        "cache_read": 1.25,
        "cache_write": 2.5,
        "cache_write_1h": 5.0,
        "sources": {
            "input": "genai-prices",
            "output": "genai-prices",
            "cache_read": "genai-prices",
            "cache_write": "input-price",
            "cache_write_1h": "input-price",
        },
    }
    # An alias finds its model.
    assert model_json(LISTING, "omni") == gpt
    mystery = model_json(LISTING, "mystery")
    assert mystery is not None
    assert mystery["enabled"] is False
    # A source the router did not set is not invented.
    assert mystery["pricing"]["sources"]["input"] == "unknown"


def test_a_model_with_deployments_lists_them_once_under_the_model() -> None:
    listing = P.ListModelsResponse(
        models=[
            info(
                "m",
                provider="azure-east",
                balancing="weighted",
                deployments=[
                    P.DeploymentInfo(
                        name="east",
                        provider="azure-east",
                        upstream_model="gpt-4o",
                        input_price_per_million=2.0,
                        output_price_per_million=8.0,
                        weight=3.0,
                        rpm=600,
                        breaker_state="closed",
                    ),
                    P.DeploymentInfo(
                        name="openai",
                        provider="openai",
                        upstream_model="gpt-4o-2024-08-06",
                        input_price_per_million=2.5,
                        output_price_per_million=10.0,
                        weight=1.0,
                        outstanding=2,
                        breaker_state="open",
                    ),
                ],
            ),
            info("mini", provider="anthropic"),
        ],
        categories=[P.CategoryInfo(name="regional", chain=["m"])],
        default_chain=["m", "mini"],
    )
    listed = models_list(listing)
    assert [item["id"] for item in listed["data"]] == ["auto", "regional", "m", "mini"]
    # A category lists every deployment's provider, not only the first deployment's.
    regional = model_json(listing, "regional")
    auto = model_json(listing, "auto")
    assert regional is not None
    assert auto is not None
    assert regional["providers"] == ["azure-east", "openai"]
    assert auto["providers"] == ["anthropic", "azure-east", "openai"]
    m = model_json(listing, "m")
    assert m is not None
    assert m["balancing"] == "weighted"
    assert m["deployments"] == [
        {
            "name": "east",
            "provider": "azure-east",
            "upstream_model": "gpt-4o",
            "weight": 3.0,
            "pricing": {"unit": "USD per 1M tokens", "input": 2.0, "output": 8.0},
            "rpm": 600,
            "tpm": None,
            "outstanding": 0,
            "breaker_state": "closed",
        },
        {
            "name": "openai",
            "provider": "openai",
            "upstream_model": "gpt-4o-2024-08-06",
            "weight": 1.0,
            "pricing": {"unit": "USD per 1M tokens", "input": 2.5, "output": 10.0},
            "rpm": None,
            "tpm": None,
            "outstanding": 2,
            "breaker_state": "open",
        },
    ]
    jsonschema.validate(listed, schema("ModelList"))
    plain = model_json(LISTING, "gpt-4o")
    assert plain is not None
    assert (plain["deployments"], plain["balancing"]) == ([], None)


def test_a_category_sums_up_the_enabled_models_of_its_chain() -> None:
    code = model_json(LISTING, "code")
    assert code is not None
    assert code["chain"] == ["mystery", "llama", "gpt-4o"]
    assert code["owned_by"] == "llmrouter"
    assert (code["enabled"], code["local"], code["providers"]) == (
        True,
        False,
        ["ollama", "openai"],
    )
    # The largest window the router can serve; an unknown output limit makes it unknown.
    assert code["context_window"] == 128_000
    assert code["max_output_tokens"] is None
    # Some enabled model can: the router passes over the ones that cannot. The disabled
    # model's json_mode does not count.
    assert code["capabilities"]["reasoning"]
    assert code["capabilities"]["vision"]
    assert not code["capabilities"]["json_mode"]
    # Priced as its first enabled model.
    assert code["pricing"]["model"] == "llama"

    offline = model_json(LISTING, "offline")
    assert offline is not None
    assert (offline["local"], offline["max_output_tokens"]) == (True, 2048)
    dead = model_json(LISTING, "dead")
    assert dead is not None
    assert (dead["enabled"], dead["pricing"], dead["context_window"]) == (False, None, None)

    auto = model_json(LISTING, "auto")
    assert auto is not None
    assert (auto["chain"], auto["categories"]) == (["gpt-4o"], ["code", "offline", "llama", "dead"])
    assert auto["pricing"]["model"] == "gpt-4o"
    # Any chain may serve an "auto" request.
    assert auto["capabilities"]["reasoning"]
    assert model_json(LISTING, "nope") is None


# --- over HTTP -----------------------------------------------------------------------------------


async def test_list_over_http_is_valid_and_includes_disabled_models(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/models")

    assert response.status_code == 200
    body = response.json()
    jsonschema.validate(body, schema("ModelList"))
    assert [(d["id"], d["enabled"]) for d in body["data"]] == [
        ("auto", True),
        ("code", True),
        ("sim-small", True),
        ("gpt-4o-mini", True),
        ("retired", False),
    ]


@pytest.mark.parametrize("name", ["sim-small", "code", "auto", "openrouter/meta/llama-3"])
async def test_retrieve_by_id(client: httpx.AsyncClient, router: FakeRouter, name: str) -> None:
    router.models.append(P.ModelInfo(name="openrouter/meta/llama-3", provider="openrouter"))

    response = await client.get(f"/v1/models/{name}")

    assert response.status_code == 200
    jsonschema.validate(response.json(), schema("Model"))
    assert response.json()["id"] == name


async def test_retrieve_unknown_is_404_in_openai_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models/gpt-9")

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "The model 'gpt-9' does not exist",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }
