"""RouterService.ListModels' answer: the registry's models with capabilities, windows and
prices (each with its source) and their deployments, the categories a client may name as the
model, and the default chain."""

from __future__ import annotations

from collections.abc import Sequence

from llmrouter.v1 import router_service_pb2

from ..config import CategoryConfig
from ..registry import ModelEntry

__all__ = ["PRICE_SOURCES", "list_models_response"]

# PriceSources' values (router_svc.registry) -> the contract's enum.
PRICE_SOURCES: dict[str, router_service_pb2.PriceSource] = {
    "config": router_service_pb2.PRICE_SOURCE_CONFIG,
    "genai-prices": router_service_pb2.PRICE_SOURCE_GENAI_PRICES,
    "local": router_service_pb2.PRICE_SOURCE_LOCAL,
    "input-price": router_service_pb2.PRICE_SOURCE_INPUT_PRICE,
    "scaled": router_service_pb2.PRICE_SOURCE_SCALED,
    "unknown": router_service_pb2.PRICE_SOURCE_UNKNOWN,
}


def list_models_response(
    entries: Sequence[ModelEntry],
    categories: Sequence[CategoryConfig] = (),
    default_chain: Sequence[str] = (),
) -> router_service_pb2.ListModelsResponse:
    """The registry's models (config order), the current categories and the default chain as
    a ListModelsResponse."""
    return router_service_pb2.ListModelsResponse(
        models=[model_info(e) for e in entries],
        categories=[
            router_service_pb2.CategoryInfo(name=c.name, chain=list(c.chain)) for c in categories
        ],
        default_chain=list(default_chain),
    )


def model_info(entry: ModelEntry) -> router_service_pb2.ModelInfo:
    """One model as ModelInfo; a cache rate the model does not have is billed at the input
    price (ModelEntry.cost), and listed so."""
    config = entry.config
    sources = entry.price_sources
    input_price = entry.input_price_per_million
    return router_service_pb2.ModelInfo(
        name=entry.name,
        provider=entry.provider.name,
        upstream_model=entry.upstream_model,
        capabilities=router_service_pb2.Capabilities(
            tools=config.tools,
            vision=config.vision,
            json_mode=config.json_mode,
            # An embedding model answers no chat, streamed or not.
            streaming=not config.embedding,
            reasoning=config.reasoning,
            embeddings=config.embedding,
        ),
        dimensions=config.dimensions,
        max_inputs_per_request=(
            (config.max_inputs_per_request or entry.provider.max_inputs) if config.embedding else 0
        ),
        context_window=entry.context_window or 0,
        context_window_source=entry.context_window_source,
        max_output_tokens=config.max_output_tokens,
        input_price_per_million=input_price,
        output_price_per_million=entry.output_price_per_million,
        cache_read_price_per_million=_or(entry.cache_read_price_per_million, input_price),
        cache_write_price_per_million=_or(entry.cache_write_price_per_million, input_price),
        cache_write_1h_price_per_million=_or(
            entry.cache_write_1h_price_per_million, 2 * input_price
        ),
        input_price_source=PRICE_SOURCES[sources.input],
        output_price_source=PRICE_SOURCES[sources.output],
        cache_read_price_source=PRICE_SOURCES[sources.cache_read],
        cache_write_price_source=PRICE_SOURCES[sources.cache_write],
        cache_write_1h_price_source=PRICE_SOURCES[sources.cache_write_1h],
        quality=config.quality,
        enabled=entry.enabled,
        priority=config.priority,
        local=entry.provider.local,
        aliases=list(config.aliases),
        deployments=[_deployment(d) for d in entry.deployments],
        balancing=config.balancing if entry.deployments else "",
    )


def _deployment(entry: ModelEntry) -> router_service_pb2.DeploymentInfo:
    """One deployment of a model (README, "Deployments") as DeploymentInfo."""
    return router_service_pb2.DeploymentInfo(
        name=entry.deployment,
        provider=entry.provider.name,
        upstream_model=entry.upstream_model,
        input_price_per_million=entry.input_price_per_million,
        output_price_per_million=entry.output_price_per_million,
        weight=entry.weight,
        rpm=entry.config.rpm,
        tpm=entry.config.tpm,
        outstanding=entry.outstanding,
        breaker_state=entry.breaker.state.value,
    )


def _or(price: float | None, default: float) -> float:
    return default if price is None else price
