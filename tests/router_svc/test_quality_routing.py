"""Quality estimates in a running router, fed by a real metrics service (SQLite ledger, both
in process on port 0): scores stored with RecordFeedback move a model's estimate, the next
Route orders by it and explains it, ListQualityEstimates shows it, and a metrics service that
goes away leaves the last estimates in use (logged once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from llmrouter.v1 import (
    chat_pb2,
    metrics_service_pb2,
    metrics_service_pb2_grpc,
    router_admin_service_pb2,
    router_admin_service_pb2_grpc,
    router_service_pb2,
    router_service_pb2_grpc,
)
from metrics_svc.config import MetricsConfig
from metrics_svc.server import RunningMetrics
from metrics_svc.server import start as start_metrics
from router_svc.config import RouterConfig
from router_svc.quality import QualityConfig
from router_svc.server import RunningRouter, start

QUALITY = QualityConfig(prior_weight=4, min_samples=6, refresh_s=0.05, timeout_s=1)


@dataclass
class Services:
    metrics: RunningMetrics
    router: RunningRouter
    ledger: Any  # MetricsServiceStub
    stub: Any  # RouterServiceStub
    admin: Any  # RouterAdminServiceStub


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    metrics = await start_metrics(
        MetricsConfig(
            port=0,
            prometheus_port=0,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/metrics.sqlite3",
            shutdown_grace_s=0.5,
        )
    )
    config = replace(
        RouterConfig(),  # the simulated sim-small (quality 0.3) and sim-large (0.6)
        port=0,
        prometheus_port=0,
        metrics_address=f"127.0.0.1:{metrics.port}",
        outbox_path=str(tmp_path / "outbox.sqlite3"),
        state_path=str(tmp_path / "state.json"),
        outbox_flush_interval_ms=20,
        quality=QUALITY,
    )
    router = await start(config)
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{metrics.port}") as ledger_channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{router.port}") as channel,
        ):
            yield Services(
                metrics,
                router,
                metrics_service_pb2_grpc.MetricsServiceStub(ledger_channel),
                router_service_pb2_grpc.RouterServiceStub(channel),
                router_admin_service_pb2_grpc.RouterAdminServiceStub(channel),
            )
    finally:
        await router.stop(grace=1)
        await metrics.stop()


def chat(text: str = "hello") -> chat_pb2.ChatRequest:
    """An "auto" request in the code category that weighs quality only."""
    return chat_pb2.ChatRequest(
        model="auto",
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)],
        routing=chat_pb2.RoutingOptions(
            category="code", preferences=chat_pb2.Preferences(quality=1.0)
        ),
    )


async def served_by(services: Services, model: str, count: int) -> list[str]:
    """Serve ``count`` requests and return the ids of those ``model`` answered."""
    ids = []
    for i in range(count):
        response = await services.stub.Complete(
            router_service_pb2.CompleteRequest(chat=chat(f"question {i}"))
        )
        if response.model == model:
            ids.append(response.id)
    return ids


async def score(services: Services, request_id: str, up: bool) -> None:
    """A thumbs up or down, retried while the request's usage is still on its way."""
    message = metrics_service_pb2.RecordFeedbackRequest(
        feedback=metrics_service_pb2.Feedback(
            request_id=request_id,
            scale=metrics_service_pb2.FEEDBACK_SCALE_THUMBS,
            raw_score=1 if up else 0,
        )
    )
    async with asyncio.timeout(5):
        while True:
            try:
                await services.ledger.RecordFeedback(message)
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                await asyncio.sleep(0.02)


async def route(services: Services) -> list[router_service_pb2.Candidate]:
    response = await services.stub.Route(router_service_pb2.RouteRequest(chat=chat()))
    assert response.category == "code"
    return list(response.candidates)


async def until(condition: Any, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not await condition():  # noqa: ASYNC110 - polling another process's state
            await asyncio.sleep(0.02)


async def test_thumbs_down_move_the_estimate_and_flip_the_next_route(services: Services) -> None:
    before = await route(services)
    assert [c.model for c in before] == ["sim-large", "sim-small"]
    assert before[0].quality.source == "prior"
    assert "quality 0.60 (prior)" in before[0].reason

    ids = await served_by(services, "sim-large", 8)
    assert len(ids) == 8
    for request_id in ids[:5]:
        await score(services, request_id, up=False)

    async def seen(samples: int) -> bool:
        listed = await services.admin.ListQualityEstimates(
            router_admin_service_pb2.ListQualityEstimatesRequest()
        )
        return any(e.model == "sim-large" and e.samples == samples for e in listed.estimates)

    # Five scores weigh less than min_samples (6): the configured quality still decides.
    await until(lambda: seen(5))
    held = await route(services)
    assert [c.model for c in held] == ["sim-large", "sim-small"]
    assert "quality 0.60 (prior, n=5 < 6)" in held[0].reason

    for request_id in ids[5:]:
        await score(services, request_id, up=False)
    await until(lambda: seen(8))
    after = await route(services)
    # Beta posterior: alpha = 0.6 * 4 + 0 = 2.4, beta = 0.4 * 4 + 8 = 9.6: mean 0.2 < 0.3.
    assert [c.model for c in after] == ["sim-small", "sim-large"]
    large = after[1]
    assert large.quality.source == "category"
    assert large.quality.samples == 8
    assert large.quality.quality == pytest.approx(0.2)
    assert large.quality.lower < 0.2 < large.quality.upper
    assert "quality 0.20 (feedback, n=8)" in large.reason
    assert after[0].quality.source == "prior"

    listed = await services.admin.ListQualityEstimates(
        router_admin_service_pb2.ListQualityEstimatesRequest()
    )
    assert listed.min_samples == 6
    (estimate,) = listed.estimates
    assert (estimate.model, estimate.category, estimate.prior, estimate.prior_weight) == (
        "sim-large",
        "code",
        pytest.approx(0.6),
        4,
    )
    assert (estimate.samples, estimate.user_samples, estimate.judge_samples) == (8, 8, 0)
    assert (estimate.estimate, estimate.observed_mean, estimate.in_use) == (
        pytest.approx(0.2),
        0.0,
        True,
    )

    # The next request, in the same process, is served by the model the estimates now favour.
    answer = await services.stub.Complete(router_service_pb2.CompleteRequest(chat=chat()))
    assert answer.model == "sim-small"

    # Changing one's mind replaces the score: 3 of 8 up moves the estimate back up.
    for request_id in ids[:3]:
        await score(services, request_id, up=True)

    async def moved() -> bool:
        large = next(c for c in await route(services) if c.model == "sim-large")
        return bool(large.quality.quality == pytest.approx(5.4 / 12))

    await until(moved)
    assert [c.model for c in await route(services)] == ["sim-large", "sim-small"]


async def test_the_last_estimates_stay_while_the_metrics_service_is_away(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await served_by(services, "sim-large", 6)
    for request_id in ids:
        await score(services, request_id, up=False)

    async def flipped() -> bool:
        return (await route(services))[0].model == "sim-small"

    await until(flipped)
    follower = services.router.quality
    assert follower is not None
    caplog.set_level(logging.WARNING, logger="router_svc.quality.follower")
    await services.metrics.stop()
    failures = follower.failures
    await until(lambda: asyncio.sleep(0, follower.failures >= failures + 3))
    assert (await route(services))[0].model == "sim-small"
    warnings = [r for r in caplog.records if r.name == "router_svc.quality.follower"]
    assert len(warnings) == 1
    assert "keeping the last estimates" in warnings[0].getMessage()


@pytest.mark.parametrize(
    "off", [{"quality": QualityConfig(enabled=False)}, {"record_usage": False}]
)
async def test_quality_off_scores_by_the_configured_quality_alone(
    tmp_path: Path, off: dict[str, Any]
) -> None:
    config = replace(
        RouterConfig(),
        port=0,
        prometheus_port=0,
        outbox_path=str(tmp_path / "outbox.sqlite3"),
        state_path=str(tmp_path / "state.json"),
        **off,
    )
    router = await start(config)
    try:
        assert router.quality is None
        async with grpc.aio.insecure_channel(f"127.0.0.1:{router.port}") as channel:
            stub = router_service_pb2_grpc.RouterServiceStub(channel)
            response = await stub.Route(router_service_pb2.RouteRequest(chat=chat()))
            assert not response.candidates[0].HasField("quality")
            assert "quality 0.60)" in response.candidates[0].reason
            admin = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
            listed = await admin.ListQualityEstimates(
                router_admin_service_pb2.ListQualityEstimatesRequest()
            )
            assert not listed.estimates
    finally:
        await router.stop(grace=1)
