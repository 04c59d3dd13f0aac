"""RouterService.ListModels as OpenAI's model objects, with llmrouter's extra fields.

OpenAI API reference, "Models": ``GET /v1/models`` answers ``{"object": "list", "data":
[...]}`` and ``GET /v1/models/{model}`` one object, each ``{"id", "object": "model",
"created", "owned_by"}``; clients (the official SDKs) keep unknown keys, so each object also
says what llmrouter knows of it: ``type`` (``model`` or ``category``), ``provider``,
``enabled``, ``local``, ``context_window``, ``max_output_tokens``, ``capabilities``
(``embeddings``: an embedding model, for ``POST /v1/embeddings`` only, with its
``dimensions`` and ``max_inputs_per_request``) and ``pricing`` (USD per million tokens, each
rate with its source).

Listed in order: ``auto`` (the router chooses), each category (a client may name one as the
model: its chain serves the request), then every registry model, enabled or not. A category
of a model's name is not listed: the model wins (router_svc.routing.policy).

A virtual key restricted to some models (Caller.allowed_models: names or aliases, and
``category:<name>`` for a category's chain) sees only what it may use (:func:`allowed_only`):
those models, the categories it is allowed or whose chain keeps one of them (each chain cut to
them), and ``auto`` with the default chain cut likewise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from llmrouter.v1 import router_service_pb2

from .chat_response import AUTO_MODEL

__all__ = ["allowed_only", "list_models_request", "model_json", "models_list"]

# Categories and "auto" belong to the router itself.
_OWNER: Final = "llmrouter"
_PRICE_UNIT: Final = "USD per 1M tokens"
_RATES: Final = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
_CAPABILITIES: Final = ("tools", "vision", "json_mode", "streaming", "reasoning", "embeddings")
_SOURCE_PREFIX: Final = "PRICE_SOURCE_"

_Model = router_service_pb2.ModelInfo
# An allowed_models entry naming a category (router_svc.routing.allowed).
_CATEGORY_PREFIX: Final = "category:"


def list_models_request() -> router_service_pb2.ListModelsRequest:
    """The request for RouterService.ListModels."""
    return router_service_pb2.ListModelsRequest()


def allowed_only(
    response: router_service_pb2.ListModelsResponse, allowed: Sequence[str]
) -> router_service_pb2.ListModelsResponse:
    """``response`` as a key allowed only ``allowed`` may see it (module docstring); the same
    response when ``allowed`` is empty (no restriction). The router decides the same way what
    such a key may call (router_svc.routing.allowed)."""
    if not allowed:
        return response
    named = {e for e in allowed if not e.startswith(_CATEGORY_PREFIX)}
    categories = {
        e.removeprefix(_CATEGORY_PREFIX) for e in allowed if e.startswith(_CATEGORY_PREFIX)
    }
    chained = {n for c in response.categories if c.name in categories for n in c.chain}
    out = router_service_pb2.ListModelsResponse()
    for model in response.models:
        names = {model.name, *model.aliases}
        if names & named or names & chained:
            out.models.append(model)
    usable = {n for m in out.models for n in (m.name, *m.aliases)}
    for category in response.categories:
        if category.name in categories:
            out.categories.append(category)
        elif kept := [n for n in category.chain if n in usable]:
            copy = out.categories.add()
            copy.CopyFrom(category)
            del copy.chain[:]
            copy.chain.extend(kept)
    out.default_chain.extend(n for n in response.default_chain if n in usable)
    return out


def models_list(response: router_service_pb2.ListModelsResponse) -> dict[str, Any]:
    """OpenAI's ``GET /v1/models`` list: ``auto``, the categories, then every model."""
    return {"object": "list", "data": _objects(response)}


def model_json(response: router_service_pb2.ListModelsResponse, name: str) -> dict[str, Any] | None:
    """OpenAI's ``GET /v1/models/{model}`` object for ``name`` (a model, an alias of one, a
    category or ``auto``), or None when the router knows no such name."""
    for item in _objects(response):
        if item["id"] == name or name in item.get("aliases", ()):
            return item
    return None


def _objects(response: router_service_pb2.ListModelsResponse) -> list[dict[str, Any]]:
    models = {m.name: m for m in response.models}
    taken = {AUTO_MODEL, *models, *(a for m in response.models for a in m.aliases)}
    every_chain = [*response.default_chain, *(n for c in response.categories for n in c.chain)]
    data = [
        _category_json(
            AUTO_MODEL,
            response.default_chain,
            every_chain,
            models,
            categories=[c.name for c in response.categories],
        )
    ]
    for category in response.categories:
        if category.name not in taken:
            taken.add(category.name)
            data.append(_category_json(category.name, category.chain, category.chain, models))
    data.extend(_model_object(m) for m in response.models)
    return data


def _model_object(model: _Model) -> dict[str, Any]:
    caps = model.capabilities
    return {
        "id": model.name,
        "object": "model",
        "created": 0,
        "owned_by": model.provider,
        "type": "model",
        "provider": model.provider,
        "upstream_model": model.upstream_model or model.name,
        "aliases": list(model.aliases),
        "enabled": model.enabled,
        "local": model.local,
        "context_window": model.context_window or None,
        "context_window_source": model.context_window_source or None,
        "max_output_tokens": model.max_output_tokens or None,
        "capabilities": {name: getattr(caps, name) for name in _CAPABILITIES},
        "pricing": _pricing(model),
        # Embedding models (capabilities.embeddings): their vectors' length (None: unknown)
        # and the most inputs one upstream call carries; None for chat models.
        "dimensions": model.dimensions or None,
        "max_inputs_per_request": model.max_inputs_per_request or None,
        # README, "Deployments": where the model's attempts go ([] for a model without
        # deployments) and how they are spread (None then).
        "deployments": [_deployment(d) for d in model.deployments],
        "balancing": model.balancing or None,
    }


def _deployment(deployment: router_service_pb2.DeploymentInfo) -> dict[str, Any]:
    return {
        "name": deployment.name,
        "provider": deployment.provider,
        "upstream_model": deployment.upstream_model,
        "weight": deployment.weight,
        "pricing": {
            "unit": _PRICE_UNIT,
            "input": deployment.input_price_per_million,
            "output": deployment.output_price_per_million,
        },
        "rpm": deployment.rpm or None,
        "tpm": deployment.tpm or None,
        "outstanding": deployment.outstanding,
        "breaker_state": deployment.breaker_state,
    }


def _pricing(model: _Model) -> dict[str, Any]:
    pricing: dict[str, Any] = {"unit": _PRICE_UNIT}
    pricing.update({rate: getattr(model, f"{rate}_price_per_million") for rate in _RATES})
    pricing["sources"] = {rate: _source(getattr(model, f"{rate}_price_source")) for rate in _RATES}
    return pricing


def _source(value: int) -> str:
    """``PRICE_SOURCE_GENAI_PRICES`` -> ``genai-prices``; unset or unknown numbers ->
    ``unknown``."""
    try:
        name = router_service_pb2.PriceSource.Name(value)
    except ValueError:
        return "unknown"
    if value == router_service_pb2.PRICE_SOURCE_UNSPECIFIED:
        return "unknown"
    return name.removeprefix(_SOURCE_PREFIX).lower().replace("_", "-")


def _category_json(
    name: str,
    chain: Sequence[str],
    reachable: Iterable[str],
    models: dict[str, _Model],
    *,
    categories: list[str] | None = None,
) -> dict[str, Any]:
    """A category (or ``auto``) as a model object. ``chain``: its models in order (for
    ``auto``, the default chain); ``reachable``: every model a request may be served by (for
    ``auto``, every chain). Over the enabled ones of those: a capability is listed when some
    model has it (the router passes over the ones without), the context window and output
    limit are the largest (the router passes over a model too small), None when one is
    unknown (that model takes any size); ``local`` when all are. ``pricing`` is the first
    enabled model's of ``chain``, named in ``pricing.model``: what a request costs when that
    model answers."""
    served = [models[n] for n in dict.fromkeys(reachable) if n in models and models[n].enabled]
    first = next((models[n] for n in chain if n in models and models[n].enabled), None)
    item: dict[str, Any] = {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": _OWNER,
        "type": "category",
        "chain": list(chain),
    }
    if categories is not None:
        item["categories"] = categories
    item.update(
        {
            "provider": None,
            # Every deployment's provider (a model without deployments: its own).
            "providers": sorted(
                {d.provider for m in served for d in m.deployments}
                | {m.provider for m in served if not m.deployments}
            ),
            "enabled": bool(served),
            "local": bool(served) and all(m.local for m in served),
            "context_window": _largest(m.context_window for m in served),
            "max_output_tokens": _largest(m.max_output_tokens for m in served),
            "capabilities": {
                cap: any(getattr(m.capabilities, cap) for m in served) for cap in _CAPABILITIES
            },
            "pricing": None if first is None else {**_pricing(first), "model": first.name},
        }
    )
    return item


def _largest(values: Iterable[int]) -> int | None:
    """The largest of ``values``; None when there are none or one is 0 (unknown)."""
    known = list(values)
    if not known or 0 in known:
        return None
    return max(known)
