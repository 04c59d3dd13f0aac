"""RouterService.ListModels over real gRPC: every model (enabled or not) with its prices and
where each comes from (genai-prices' real bundled table), windows, capabilities, the current
categories and the default chain; and a category named as the model routes by its chain."""

from __future__ import annotations

from typing import Any

import pytest

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import CategoryConfig

from .conftest import model

P = router_service_pb2


def unpriced(name: str, **kwargs: Any) -> Any:
    """A model whose prices are looked up (none configured)."""
    fields: dict[str, Any] = {
        "input_price_per_million": -1.0,
        "output_price_per_million": -1.0,
        "context_window": 0,
        **kwargs,
    }
    return model(name, **fields)


MODELS = (
    model("priced", aliases=("cheap",), max_output_tokens=4096, reasoning=True, vision=True),
    unpriced("listed", upstream_model="gpt-4o", json_mode=True),
    unpriced("negotiated", upstream_model="gpt-4o", input_price_per_million=5.0),
    unpriced("on-prem", provider="olla"),
    unpriced("mystery", upstream_model="mystery-model-7", enabled=False),
)
CATEGORIES = (
    CategoryConfig(name="code", chain=("listed", "priced")),
    # Same name as a model: the model wins when a client names it.
    CategoryConfig(name="priced", chain=("listed",)),
)


@pytest.fixture
async def stub(make_router: Any) -> Any:
    _, stub = await make_router(MODELS, ("priced", "listed"), categories=CATEGORIES)
    return stub


async def test_every_model_is_listed_with_prices_and_their_sources(stub: Any) -> None:
    reply = await stub.ListModels(P.ListModelsRequest())
    by_name = {m.name: m for m in reply.models}

    assert list(by_name) == ["priced", "listed", "negotiated", "on-prem", "mystery"]
    priced = by_name["priced"]
    assert (priced.input_price_per_million, priced.output_price_per_million) == (1.0, 2.0)
    assert (priced.input_price_source, priced.output_price_source) == (
        P.PRICE_SOURCE_CONFIG,
        P.PRICE_SOURCE_CONFIG,
    )
    # No cache rate known anywhere: billed at the input price, and said so.
    assert priced.cache_read_price_per_million == 1.0
    assert priced.cache_read_price_source == P.PRICE_SOURCE_INPUT_PRICE
    assert priced.cache_write_1h_price_per_million == 2.0
    assert (priced.max_output_tokens, priced.context_window) == (4096, 100_000)
    assert priced.context_window_source == "config"
    caps = priced.capabilities
    assert (caps.tools, caps.vision, caps.json_mode, caps.streaming, caps.reasoning) == (
        True,
        True,
        False,
        True,
        True,
    )
    assert list(priced.aliases) == ["cheap"]

    # gpt-4o as genai-prices lists it: $2.50 in, $10 out, $1.25 cached, 128K window.
    listed = by_name["listed"]
    assert (listed.input_price_per_million, listed.output_price_per_million) == (2.5, 10.0)
    assert listed.cache_read_price_per_million == 1.25
    assert listed.input_price_source == P.PRICE_SOURCE_GENAI_PRICES
    assert listed.cache_read_price_source == P.PRICE_SOURCE_GENAI_PRICES
    assert (listed.context_window, listed.context_window_source) == (128_000, "genai-prices")
    assert listed.max_output_tokens == 0  # unknown

    # A negotiated input price keeps the listed cache discount (half of $5).
    negotiated = by_name["negotiated"]
    assert negotiated.input_price_source == P.PRICE_SOURCE_CONFIG
    assert negotiated.output_price_source == P.PRICE_SOURCE_GENAI_PRICES
    assert negotiated.cache_read_price_per_million == 2.5
    assert negotiated.cache_read_price_source == P.PRICE_SOURCE_SCALED

    on_prem = by_name["on-prem"]
    assert on_prem.local
    assert on_prem.input_price_source == P.PRICE_SOURCE_LOCAL
    assert on_prem.input_price_per_million == 0.0

    mystery = by_name["mystery"]
    assert not mystery.enabled
    assert mystery.input_price_source == P.PRICE_SOURCE_UNKNOWN
    assert mystery.output_price_source == P.PRICE_SOURCE_UNKNOWN


async def test_categories_and_default_chain_are_listed(stub: Any) -> None:
    reply = await stub.ListModels(P.ListModelsRequest())

    assert [(c.name, list(c.chain)) for c in reply.categories] == [
        ("code", ["listed", "priced"]),
        ("priced", ["listed"]),
    ]
    assert list(reply.default_chain) == ["priced", "listed"]


def route(model_name: str) -> Any:
    return P.RouteRequest(
        chat=chat_pb2.ChatRequest(
            model=model_name, messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")]
        )
    )


async def test_a_category_named_as_the_model_routes_by_its_chain(stub: Any) -> None:
    decision = await stub.Route(route("code"))
    assert (decision.category, decision.category_source) == ("code", "model")
    assert [c.model for c in decision.candidates] == ["listed", "priced"]

    # A model of the category's name wins.
    named = await stub.Route(route("priced"))
    assert named.category_source == "explicit_model"
    assert [c.model for c in named.candidates] == ["priced"]
