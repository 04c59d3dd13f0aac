"""Quality-bounded cost routing (README "Learned routing") over real gRPC: the learned kNN
predictor on a labelled set embedded by the simulated embedding model, the category (prior)
fallback, embedding failures, invalid bounds, and learning from feedback across requests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from llmrouter.config import ConfigError
from llmrouter.serving import GrpcServer, start_grpc_server
from llmrouter.v1 import (
    chat_pb2,
    metrics_service_pb2,
    metrics_service_pb2_grpc,
    router_admin_service_pb2_grpc,
    router_service_pb2,
)
from llmrouter.v1 import router_admin_service_pb2 as admin_pb
from router_svc.chat import ChatRequest, Message
from router_svc.config import ProviderConfig, load_config
from router_svc.learned.config import LearnedConfig
from router_svc.learned.labelled import parse_line
from router_svc.learned.prompts import PromptVectors, prompt_text
from router_svc.quality.config import QualityConfig
from router_svc.server import RunningRouter

from .conftest import FakeMetrics, wait_for
from .learned_topics import (
    ASK_A,
    ASK_B,
    EMBED,
    GENERAL,
    MODELS,
    PROVIDERS,
    TOPIC_A,
    write_labelled_set,
)
from .test_model_fallbacks import field_violations

# Neighbours need a similarity of 0.2 (texts of another topic share a "the" or two).
LEARNED = LearnedConfig(
    embedding_model="sim-embed",
    min_similarity=0.2,
    shrinkage=1.0,
    feedback_poll_interval_s=0.05,
)


def chat(text: str, model: str = "general", **routing: Any) -> chat_pb2.ChatRequest:
    request = chat_pb2.ChatRequest(
        model=model, messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)]
    )
    for key, value in routing.items():
        setattr(request.routing, key, value)
    return request


def route(text: str, model: str = "general", **routing: Any) -> router_service_pb2.RouteRequest:
    return router_service_pb2.RouteRequest(chat=chat(text, model, **routing))


def order(decision: router_service_pb2.RouteResponse) -> list[str]:
    return [c.model for c in decision.candidates]


async def start(make_router: Any, tmp_path: Path, **overrides: Any) -> tuple[RunningRouter, Any]:
    """A router over the simulated provider with the "general" category; the labelled set
    loaded (when ``learned`` names one) before it is returned."""
    fields: dict[str, Any] = dict(providers=PROVIDERS, categories=(GENERAL,))
    fields.update(overrides)
    running, stub = await make_router(MODELS, ("strong", "cheap"), **fields)
    if running.labelled is not None:
        report = await running.labelled.wait()
        assert report.done
    return running, stub


@pytest.fixture
def labelled(tmp_path: Path) -> LearnedConfig:
    return replace(LEARNED, labelled_set=str(write_labelled_set(tmp_path / "labelled.jsonl")))


async def test_topic_a_routes_cheap_first_and_topic_b_strong_first(
    make_router: Any, tmp_path: Path, labelled: LearnedConfig
) -> None:
    running, stub = await start(make_router, tmp_path, learned=labelled)
    assert running.predictor is not None
    assert running.predictor.points == 32

    easy = await stub.Route(route(ASK_A, min_quality=0.7))
    hard = await stub.Route(route(ASK_B, min_quality=0.7))

    assert order(easy) == ["cheap", "strong"]
    assert order(hard) == ["strong", "cheap"]
    for decision in (easy, hard):
        assert decision.HasField("min_quality")
        assert decision.min_quality == 0.7
        assert decision.predictor_embedding_model == "sim-embed"
        for candidate in decision.candidates:
            assert candidate.quality.source == "knn"
            assert candidate.quality.samples >= 3
            assert 0.2 <= candidate.quality.mean_similarity <= 1
    cheap_on_a, strong_on_a = easy.candidates
    assert cheap_on_a.quality.quality >= 0.7
    assert cheap_on_a.reason.startswith("cheapest meeting quality >= 0.70 (est. $")
    assert (
        f"predicted {cheap_on_a.quality.quality:.2f} from {cheap_on_a.quality.samples} "
        "neighbours (knn)"
    ) in cheap_on_a.reason
    assert strong_on_a.reason.startswith("meets quality >= 0.70")
    strong_on_b, cheap_on_b = hard.candidates
    assert cheap_on_b.quality.quality < 0.7 <= strong_on_b.quality.quality
    assert strong_on_b.reason.startswith("cheapest meeting quality >= 0.70")
    assert cheap_on_b.reason.startswith("below quality 0.70")

    # Complete and StreamComplete follow the same order.
    answer = await stub.Complete(
        router_service_pb2.CompleteRequest(chat=chat(ASK_A, min_quality=0.7))
    )
    assert answer.model == "cheap"
    first = None
    async for chunk in stub.StreamComplete(
        router_service_pb2.StreamCompleteRequest(chat=chat(ASK_B, min_quality=0.7))
    ):
        if chunk.HasField("delta") and first is None:
            first = chunk
        if chunk.HasField("summary"):
            assert chunk.summary.model == "strong"
    assert first is not None

    # A category's own bound applies when the request gives none; the request's wins.
    assert order(await stub.Route(route(ASK_B, min_quality=0.1))) == ["cheap", "strong"]


async def test_the_category_bound_applies_without_a_request_bound(
    make_router: Any, tmp_path: Path, labelled: LearnedConfig
) -> None:
    bounded = replace(GENERAL, min_quality=0.7)
    _, stub = await start(make_router, tmp_path, learned=labelled, categories=(bounded,))

    by_name = await stub.Route(route(ASK_B))
    by_auto = await stub.Route(route(ASK_A, "auto", category="general"))
    overridden = await stub.Route(route(ASK_B, min_quality=0.2))

    assert (order(by_name), by_name.min_quality) == (["strong", "cheap"], 0.7)
    assert (order(by_auto), by_auto.min_quality) == (["cheap", "strong"], 0.7)
    assert (order(overridden), overridden.min_quality) == (["cheap", "strong"], pytest.approx(0.2))


async def test_a_named_model_is_not_reordered_and_fallbacks_stay_last(
    make_router: Any, tmp_path: Path, labelled: LearnedConfig
) -> None:
    _, stub = await start(make_router, tmp_path, learned=labelled)
    named = await stub.Route(route(ASK_A, "strong", min_quality=0.7))
    request = route(ASK_B, min_quality=0.7)
    request.chat.fallback_models.append("cheap")
    with_fallback = await stub.Route(request)

    assert order(named) == ["strong"]
    assert not named.HasField("min_quality")
    assert named.predictor_embedding_model == ""
    assert not named.candidates[0].HasField("quality")
    # "cheap" is in the chain already: tried once, at its place in the bounded order.
    assert order(with_fallback) == ["strong", "cheap"]


async def test_without_data_the_prior_decides_and_says_so(make_router: Any, tmp_path: Path) -> None:
    # Predictor configured but nothing labelled yet; then no predictor at all.
    _, learning = await start(make_router, tmp_path, learned=LEARNED)
    _, plain = await start(make_router, tmp_path)

    for stub, embedded in ((learning, "sim-embed"), (plain, "")):
        low = await stub.Route(route(ASK_B, min_quality=0.4))
        high = await stub.Route(route(ASK_A, min_quality=0.7))
        assert order(low) == ["cheap", "strong"]  # configured 0.5 >= 0.4: the cheapest
        assert order(high) == ["strong", "cheap"]  # only the strong model's 0.9 reaches 0.7
        assert high.predictor_embedding_model == embedded
        for candidate in high.candidates:
            assert candidate.quality.source == "prior"
            assert candidate.quality.samples == 0
        assert "configured 0.90 (prior)" in high.candidates[0].reason
        if embedded:
            assert "fewer than 3 similar labelled prompts" in high.candidates[0].reason
    # Nothing asked of the embedding model without a bound.
    none = await plain.Route(route(ASK_A))
    assert order(none) == ["strong", "cheap"]
    assert not none.HasField("min_quality")
    assert [c.reason for c in none.candidates] == ["chain position 1", "chain position 2"]


async def test_an_embedding_failure_falls_back_to_category_estimates(
    make_router: Any, tmp_path: Path, labelled: LearnedConfig, caplog: pytest.LogCaptureFixture
) -> None:
    slow = ProviderConfig(name="slow", kind="simulated", latency_ms=2000.0)
    models = (*MODELS[:2], replace(EMBED, provider="slow"))
    learned = replace(labelled, labelled_set="", embed_timeout_s=0.1)
    caplog.set_level(logging.WARNING, logger="router_svc.learned.predictor")
    _, stub = await make_router(
        models, ("strong",), providers=(*PROVIDERS, slow), categories=(GENERAL,), learned=learned
    )

    started = asyncio.get_running_loop().time()
    decision = await stub.Route(route(ASK_A, min_quality=0.7))
    took = asyncio.get_running_loop().time() - started

    assert took < 1.0
    assert decision.predictor_embedding_model == ""
    assert order(decision) == ["strong", "cheap"]
    assert [c.quality.source for c in decision.candidates] == ["prior", "prior"]
    assert "predictor not used: embedding timed out after 0.1 s" in decision.candidates[0].reason
    assert "embedding timed out" in caplog.text
    # Served all the same, by the fallback's order.
    answer = await stub.Complete(
        router_service_pb2.CompleteRequest(chat=chat(ASK_A, min_quality=0.7))
    )
    assert answer.model == "strong"


@pytest.mark.parametrize("bound", [1.5, -0.1, float("nan")])
async def test_an_invalid_bound_is_invalid_argument_naming_the_field(
    make_router: Any, tmp_path: Path, bound: float
) -> None:
    _, stub = await start(make_router, tmp_path)
    for call in (
        stub.Route(route(ASK_A, min_quality=bound)),
        stub.Complete(router_service_pb2.CompleteRequest(chat=chat(ASK_A, min_quality=bound))),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(caught.value) == ["chat.routing.min_quality"]


class FeedbackMetrics(FakeMetrics):
    """The fake metrics service with stored scores to follow (ListFeedback, in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.feedback: list[metrics_service_pb2.Feedback] = []
        self.reads = 0

    def score(
        self,
        request_id: str,
        model: str,
        score: float,
        source: str = "user",
        category: str = "general",
    ) -> None:
        sequence = len(self.feedback) + 1
        self.feedback.append(
            metrics_service_pb2.Feedback(
                request_id=request_id,
                source=source,
                score=score,
                model=model,
                category=category,
                sequence=sequence,
            )
        )

    async def QueryQuality(
        self, request: metrics_service_pb2.QueryQualityRequest, context: Any
    ) -> metrics_service_pb2.QueryQualityResponse:
        """The users' scores summed per model x category (the last per request id and
        source counts, as the real service keeps them)."""
        latest = {(f.request_id, f.source): f for f in self.feedback}
        sums: dict[tuple[str, str], list[float]] = {}
        for f in latest.values():
            sums.setdefault((f.model, f.category), []).append(f.score)
        return metrics_service_pb2.QueryQualityResponse(
            stats=[
                metrics_service_pb2.QualityStats(
                    model=model,
                    category=category,
                    source_kind="user",
                    count=len(scores),
                    score_sum=sum(scores),
                    score_sum_squares=sum(x * x for x in scores),
                )
                for (model, category), scores in sums.items()
            ]
        )

    async def ListFeedback(
        self, request: metrics_service_pb2.ListFeedbackRequest, context: Any
    ) -> metrics_service_pb2.ListFeedbackResponse:
        self.reads += 1
        after = [f for f in self.feedback if f.sequence > request.after_sequence]
        page = after[: request.page_size or 500]
        last = page[-1].sequence if page else request.after_sequence
        return metrics_service_pb2.ListFeedbackResponse(feedback=page, last_sequence=last)


@pytest.fixture
async def fake_metrics() -> AsyncIterator[tuple[FeedbackMetrics, GrpcServer]]:
    """The routers' metrics service (conftest's, overridden): answers ListFeedback too."""
    servicer = FeedbackMetrics()
    server = await start_grpc_server(
        "127.0.0.1:0",
        lambda s: metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(servicer, s),
        ["llmrouter.v1.MetricsService"],
    )
    yield servicer, server
    await server.stop(0)


@pytest.fixture
def feedback_metrics(fake_metrics: tuple[FeedbackMetrics, GrpcServer]) -> FeedbackMetrics:
    return fake_metrics[0]


async def test_thumbs_down_on_the_cheap_answers_flips_the_next_decision(
    make_router: Any, tmp_path: Path, labelled: LearnedConfig, feedback_metrics: FeedbackMetrics
) -> None:
    running, stub = await start(make_router, tmp_path, learned=labelled)
    assert running.feedback is not None
    assert order(await stub.Route(route(ASK_A, min_quality=0.7))) == ["cheap", "strong"]

    # Topic-A requests served by the cheap model; their users give the answers a thumbs down.
    answered = []
    for prompt in TOPIC_A:
        asked = prompt.replace("Translate into French", "Translate into French please")
        answer = await stub.Complete(
            router_service_pb2.CompleteRequest(chat=chat(asked, min_quality=0.7))
        )
        assert answer.model == "cheap"
        answered.append(answer.id)
    assert len(running.predictor.prompts) == len(TOPIC_A)  # type: ignore[union-attr]
    for request_id in answered:
        feedback_metrics.score(request_id, "cheap", 1.0)  # first a thumbs up ...
        feedback_metrics.score(request_id, "cheap", 0.0)  # ... replaced by a thumbs down
    # A score of a request this router never routed with a bound teaches nothing.
    feedback_metrics.score("0" * 32, "cheap", 0.0)
    follower = running.feedback
    await wait_for(lambda: follower.cursor == len(feedback_metrics.feedback))

    # The same (request id, source) replaces its point: one point per answer.
    assert running.predictor.knn.count("cheap") == 16 + len(TOPIC_A)  # type: ignore[union-attr]
    flipped = await stub.Route(route(ASK_A, min_quality=0.7))
    assert order(flipped) == ["strong", "cheap"]
    assert flipped.candidates[1].quality.source == "knn"
    assert flipped.candidates[1].quality.quality < 0.7
    answer = await stub.Complete(
        router_service_pb2.CompleteRequest(chat=chat(ASK_A, min_quality=0.7))
    )
    assert answer.model == "strong"


async def test_the_labelled_set_loads_in_the_background_naming_bad_lines(
    make_router: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_labelled_set(
        tmp_path / "labelled.jsonl",
        (
            '{"prompt": "secret canary words", "model": "cheap", "score": 2}',
            "not json at all",
            '{"prompt": "x", "model": "nobody", "score": 0.5}',
        ),
    )
    caplog.set_level(logging.WARNING, logger="router_svc.learned.labelled")
    learned = replace(LEARNED, labelled_set=str(path), labelled_batch_size=5)
    running, _ = await start(make_router, tmp_path, learned=learned)

    report = running.labelled.report  # type: ignore[union-attr]
    assert (report.rows, report.embedded, report.bad_lines, report.unknown_models) == (35, 32, 2, 1)
    assert "line 33 skipped: score: expected a number in [0, 1], got 2" in caplog.text
    assert "line 34 skipped: not JSON" in caplog.text
    assert "line 35 skipped: model 'nobody' is not in the registry" in caplog.text
    said = capsys.readouterr().err  # progress: on stderr, as the start-up lines
    assert "router: learned routing: embedding 32 labelled rows" in said
    assert "loaded: 32 rows embedded, 2 bad lines, 1 of unknown models" in said
    assert "canary" not in caplog.text + said


def test_parse_line_and_prompt_text() -> None:
    assert parse_line("  ", 3) is None
    with pytest.raises(ValueError, match="prompt: expected a non-empty string"):
        parse_line('{"prompt": "", "model": "m", "score": 1}', 1)
    with pytest.raises(ValueError, match="score"):
        parse_line('{"prompt": "p", "model": "m", "score": true}', 1)
    request = ChatRequest(
        model="auto",
        messages=(
            Message("system", "be brief"),
            Message("user", "first question"),
            Message("assistant", "an answer"),
            Message("user", "second question, rather long"),
        ),
    )
    assert prompt_text(request, 15) == "second question"
    no_user = replace(request, messages=(Message("system", "abc"), Message("assistant", "defg")))
    assert prompt_text(no_user, 6) == "abc\nde"


def test_prompt_vectors_are_bounded_and_expire() -> None:
    now = [0.0]
    vectors = PromptVectors(2, ttl_s=10, clock=lambda: now[0])
    one = np.ones(3, dtype=np.float32)
    vectors.add("a", one)
    vectors.add("b", one)
    vectors.add("c", one)
    assert (vectors.get("a"), len(vectors)) == (None, 2)  # the oldest went
    now[0] = 10.0
    assert vectors.get("b") is None  # expired
    assert vectors.expire() == 1
    assert len(vectors) == 0
    assert "0 of 2" in repr(vectors)


async def test_an_operator_sets_a_category_bound_through_the_admin_api(
    make_router: Any, tmp_path: Path, labelled: LearnedConfig
) -> None:
    running, stub = await start(make_router, tmp_path, learned=labelled)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    admin = router_admin_service_pb2_grpc.RouterAdminServiceStub(channel)
    try:
        bounded = admin_pb.Category(name="general", chain=["strong", "cheap"], min_quality=0.7)
        updated = await admin.UpdateCategory(admin_pb.UpdateCategoryRequest(category=bounded))
        decision = await stub.Route(route(ASK_A))
        listed = await admin.ListCategories(admin_pb.ListCategoriesRequest())
        wrong = admin_pb.Category(name="general", chain=["cheap"], min_quality=1.2)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.UpdateCategory(admin_pb.UpdateCategoryRequest(category=wrong))
        # An update without the bound clears it, as it replaces the chain.
        bounded.ClearField("min_quality")
        await admin.UpdateCategory(admin_pb.UpdateCategoryRequest(category=bounded))
        cleared = await stub.Route(route(ASK_A))
    finally:
        await channel.close(None)

    assert updated.category.min_quality == 0.7
    assert [c.min_quality for c in listed.categories if c.name == "general"] == [0.7]
    assert (order(decision), decision.min_quality) == (["cheap", "strong"], 0.7)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == ["category.min_quality"]
    assert order(cleared) == ["strong", "cheap"]
    assert not cleared.HasField("min_quality")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"learned": {"embedding_model": "nope"}},
            "router.learned.embedding_model: unknown model 'nope'",
        ),
        (
            {"learned": {"embedding_model": "sim-small"}},
            "router.learned.embedding_model: a chat model, not an embedding one 'sim-small'",
        ),
        ({"learned": {"k": 0}}, "router.learned.k: expected at least 1, got 0"),
        (
            {"learned": {"embed_timeout_s": 0}},
            "router.learned.embed_timeout_s: expected a positive number of seconds",
        ),
        (
            {"learned": {"labelled_set": "x.jsonl"}},
            "router.learned.labelled_set: needs embedding_model",
        ),
        (
            {"categories": [{"name": "c", "chain": ["sim-small"], "min_quality": 1.5}]},
            "router.categories[0].min_quality: expected 0 to 1, got 1.5",
        ),
    ],
)
def test_config_errors_name_the_key(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(document={"router": document}, environ={})
    assert str(caught.value).startswith(message), caught.value
    good = load_config(
        document={"router": {"learned": {"embedding_model": "sim-embed"}}}, environ={}
    )
    assert good.learned.enabled


async def test_without_a_predictor_the_category_estimates_from_feedback_decide(
    make_router: Any, tmp_path: Path, feedback_metrics: FeedbackMetrics
) -> None:
    running, stub = await start(make_router, tmp_path, quality=QualityConfig(refresh_s=0.05))
    assert running.predictor is None
    before = await stub.Route(route(ASK_B, min_quality=0.7))
    # Thirty thumbs up for the cheap model's answers in the category (any prompts).
    for i in range(30):
        feedback_metrics.score(f"{i:032x}", "cheap", 1.0)
    async with asyncio.timeout(5):
        while True:
            after = await stub.Route(route(ASK_B, min_quality=0.7))
            if after.candidates[0].model == "cheap":
                break
            await asyncio.sleep(0.02)

    assert order(before) == ["strong", "cheap"]
    assert before.candidates[1].quality.source == "prior"
    # The prior's interval (configured 0.5 as 10 pseudo-scores): known, around the prior.
    assert before.candidates[1].quality.lower < 0.5 < before.candidates[1].quality.upper
    cheap = after.candidates[0]
    # Beta posterior: (0.5 * 10 + 30) / (10 + 30).
    assert cheap.quality.source == "category"
    assert cheap.quality.quality == pytest.approx(35 / 40)
    assert cheap.quality.samples == 30
    assert "estimated 0.88 from 30 scores (category)" in cheap.reason
    assert after.predictor_embedding_model == ""


async def test_spans_say_the_bound_and_never_the_prompt(
    make_router: Any, tmp_path: Path, labelled: LearnedConfig, spans: Any
) -> None:
    _, stub = await start(make_router, tmp_path, learned=labelled)
    canary = "quokkacanary55"
    spans.clear()
    answer = await stub.Complete(
        router_service_pb2.CompleteRequest(chat=chat(f"{ASK_A} {canary}", min_quality=0.7))
    )

    finished = spans.get_finished_spans()
    (decided,) = [s for s in finished if "llmrouter.min_quality" in (s.attributes or {})]
    assert decided.attributes["llmrouter.min_quality"] == 0.7
    assert decided.attributes["llmrouter.predictor_embedding_model"] == "sim-embed"
    assert decided.attributes["llmrouter.candidates"] == (answer.model, "strong")
    # The prompt's embed call is an attempt span of its own, beside the chat attempt.
    assert any(s.name == "embeddings sim-embed" for s in finished)
    for span in finished:
        shown = repr(span.attributes) + repr([e.attributes for e in span.events])
        assert canary not in shown
        assert "Translate" not in shown


@pytest.mark.parametrize("name", ["missing.jsonl", "a-directory"])
async def test_an_unreadable_labelled_set_stops_the_start_naming_the_key(
    make_router: Any, tmp_path: Path, name: str
) -> None:
    (tmp_path / "a-directory").mkdir()
    path = tmp_path / name
    with pytest.raises(ConfigError) as caught:
        await start(make_router, tmp_path, learned=replace(LEARNED, labelled_set=str(path)))
    assert str(caught.value).startswith(f"router.learned.labelled_set: cannot read {path}: ")
