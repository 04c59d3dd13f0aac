"""Schemas of ``GET /v1/models`` and ``GET /v1/models/{model}`` (gateway.translate.models):
OpenAI's model object plus llmrouter's fields."""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi.parts import INTEGER, NUMBER, STRING, obj, ref

__all__ = ["MODEL_SCHEMAS"]

_OPT_INT: Final = {"type": ["integer", "null"], "minimum": 1}
_BOOL: Final = {"type": "boolean"}
_RATES: Final = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
_SOURCE: Final = {
    "enum": ["config", "genai-prices", "local", "input-price", "scaled", "unknown"],
    "description": "config: the model's *_price_per_million; genai-prices: its bundled table; "
    "local: a provider on your own hardware (0); input-price: a cache rate listed nowhere, "
    "billed at the input price (2x for 1-hour writes); scaled: genai-prices' cache rate "
    "scaled to a configured input price; unknown: known nowhere, billed at 0.",
}
_PRICING: Final = obj(
    ["unit", *_RATES, "sources"],
    {
        "unit": {"const": "USD per 1M tokens"},
        **{rate: {**NUMBER, "minimum": 0} for rate in _RATES},
        "sources": obj(list(_RATES), {rate: _SOURCE for rate in _RATES}),
        "model": {
            **STRING,
            "description": "Categories only: the model these prices are of (the first enabled "
            "model of the chain).",
        },
    },
)
_CAPABILITY_NAMES: Final = ("tools", "vision", "json_mode", "streaming", "reasoning", "embeddings")
_CAPABILITIES: Final = obj(
    list(_CAPABILITY_NAMES),
    {
        **{name: _BOOL for name in _CAPABILITY_NAMES},
        "embeddings": {
            **_BOOL,
            "description": "An embedding model (POST /v1/embeddings only, never chat); for a "
            "category, some model of it is one.",
        },
    },
)
_DEPLOYMENT: Final = obj(
    ["name", "provider", "upstream_model", "weight", "pricing", "breaker_state"],
    {
        "name": STRING,
        "provider": STRING,
        "upstream_model": STRING,
        "weight": {**NUMBER, "exclusiveMinimum": 0},
        "pricing": obj(
            ["unit", "input", "output"],
            {
                "unit": {"const": "USD per 1M tokens"},
                "input": {**NUMBER, "minimum": 0},
                "output": {**NUMBER, "minimum": 0},
            },
        ),
        "rpm": _OPT_INT,
        "tpm": _OPT_INT,
        "outstanding": {**INTEGER, "description": "Attempts in flight on this router replica."},
        "breaker_state": {"enum": ["closed", "half_open", "open"]},
    },
    description="One deployment of the model: another provider, key or region serving it.",
)
_MODEL: Final[dict[str, Any]] = obj(
    [
        "id",
        "object",
        "created",
        "owned_by",
        "type",
        "enabled",
        "local",
        "context_window",
        "max_output_tokens",
        "capabilities",
        "pricing",
    ],
    {
        "id": STRING,
        "object": {"const": "model"},
        "created": INTEGER,
        "owned_by": STRING,
        "type": {
            "enum": ["model", "category"],
            "description": "category: 'auto' or a category; send it as the model and its chain "
            "serves the request.",
        },
        "provider": {"type": ["string", "null"]},
        "providers": {
            "type": "array",
            "items": STRING,
            "description": "Categories: the providers of its enabled models, every "
            "deployment's (sorted).",
        },
        "upstream_model": STRING,
        "aliases": {"type": "array", "items": STRING},
        "chain": {"type": "array", "items": STRING},
        "categories": {"type": "array", "items": STRING},
        "enabled": _BOOL,
        "local": _BOOL,
        "context_window": _OPT_INT,
        "context_window_source": {"enum": ["config", "genai-prices", None]},
        "max_output_tokens": _OPT_INT,
        "capabilities": _CAPABILITIES,
        "pricing": {"anyOf": [_PRICING, {"type": "null"}]},
        "dimensions": {**_OPT_INT, "description": "Embedding models: their vectors' length."},
        "max_inputs_per_request": {
            **_OPT_INT,
            "description": "Embedding models: the most inputs one upstream call carries (larger "
            "requests are split).",
        },
        "deployments": {
            "type": "array",
            "items": _DEPLOYMENT,
            "description": "Models only: the deployments its attempts are balanced over (empty "
            "for a model without deployments; provider and pricing above are then the "
            "first deployment's).",
        },
        "balancing": {
            "enum": ["least_outstanding", "weighted", "lowest_latency", None],
            "description": "How attempts are spread over the deployments (null without).",
        },
    },
)
_MODEL_LIST: Final = obj(
    ["object", "data"],
    {"object": {"const": "list"}, "data": {"type": "array", "items": ref("Model")}},
)

MODEL_SCHEMAS: Final = {"Model": _MODEL, "ModelList": _MODEL_LIST}
