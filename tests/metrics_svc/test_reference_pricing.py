"""QueryCosts savings against any model: the configured reference first, else the genai-prices
catalogue. Expected costs come from genai-prices' own calculator on the records' tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from genai_prices import Usage, calc_price

from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc.config import MetricsConfig
from metrics_svc.server import start

from .support import NOW, Metrics, Sent, assert_summary, rich_error

RECORDS = [
    Sent(
        id=f"p{i}:1",
        time=NOW - timedelta(minutes=i + 1),
        provider="openai",
        model="gpt-4o-mini",
        category="chat",
        source="web",
        api_key_id="",
        prompt_tokens=1_000 + 311 * i,
        completion_tokens=200 + 97 * i,
        cost_usd=0.0001 * (i + 1),
        duration_ms=100 + i,
        status=pb.USAGE_STATUS_SUCCEEDED,
        fallback=False,
        local=False,
    )
    for i in range(12)
]


def catalogue_prices(model: str) -> tuple[float, float]:
    """USD per million prompt and completion tokens, from what genai-prices charges for the
    records' tokens (all well below any price tier)."""
    prompt = sum(s.prompt_tokens for s in RECORDS)
    completion = sum(s.completion_tokens for s in RECORDS)
    price = calc_price(Usage(input_tokens=prompt, output_tokens=completion), model_ref=model)
    return float(price.input_price) / prompt * 1e6, float(price.output_price) / completion * 1e6


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-haiku-latest"])
async def test_savings_against_a_catalogue_model(metrics: Metrics, model: str) -> None:
    await metrics.record(*(s.to_pb() for s in RECORDS))

    response = await metrics.query(reference_model=model, group_by=[pb.DIMENSION_MODEL])

    prices = catalogue_prices(model)
    assert min(prices) > 0
    assert response.reference_model == model
    assert_summary(response.totals, RECORDS, prices)
    assert_summary(response.groups[0].summary, RECORDS, prices)


async def test_without_a_reference_model_the_configured_one_is_used(metrics: Metrics) -> None:
    await metrics.record(*(s.to_pb() for s in RECORDS))

    response = await metrics.query()

    assert response.reference_model == metrics.config.reference_model
    assert_summary(response.totals, RECORDS)  # support's default: the configured prices


@pytest.fixture
async def gpt4o_reference(database_url: str) -> AsyncIterator[Metrics]:
    """A service whose configured reference is gpt-4o at prices unlike the catalogue's."""
    config = MetricsConfig(
        port=0,
        prometheus_port=0,
        database_url=database_url,
        reference_model="gpt-4o",
        reference_input_price_per_million=7.0,
        reference_output_price_per_million=21.0,
        shutdown_grace_s=1.0,
    )
    running = await start(config, clock=lambda: NOW)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield Metrics(metrics_service_pb2_grpc.MetricsServiceStub(channel), running, config)
    finally:
        await running.stop()


async def test_the_configured_prices_win_over_the_catalogue(gpt4o_reference: Metrics) -> None:
    await gpt4o_reference.record(*(s.to_pb() for s in RECORDS))
    assert catalogue_prices("gpt-4o") != (7.0, 21.0)

    response = await gpt4o_reference.query(reference_model="gpt-4o")

    assert_summary(response.totals, RECORDS, (7.0, 21.0))


async def test_a_model_nobody_prices_is_rejected_naming_the_field(metrics: Metrics) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.query(reference_model="no-such-model-anywhere")

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("reference_model: ")
    assert "no-such-model-anywhere" in (caught.value.details() or "")
    info, bad_request = rich_error(caught.value)
    assert info.reason == "UNKNOWN_REFERENCE_MODEL"
    assert info.metadata["reference_model"] == "no-such-model-anywhere"
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == ["reference_model"]
