"""RecordFeedback, ListFeedback and QueryQuality through a real gRPC server on SQLite and
PostgreSQL: scores take the serving attempt's model and caller, a repeat replaces, bad fields
are named, followers of ListFeedback see replacements, and QueryQuality's sums are the sums of
what was stored.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import grpc
import pytest

from llmrouter.v1 import metrics_service_pb2 as pb

from .support import NOW, Metrics, rich_error, usage_record

OK, FAILED = pb.USAGE_STATUS_SUCCEEDED, pb.USAGE_STATUS_FAILED
THUMBS, STARS, FRACTION = (
    pb.FEEDBACK_SCALE_THUMBS,
    pb.FEEDBACK_SCALE_STARS,
    pb.FEEDBACK_SCALE_FRACTION,
)


async def record(metrics: Metrics, **fields: Any) -> pb.RecordFeedbackResponse:
    """One RecordFeedback call; ``caller_*`` fields go on the request, the rest on the
    feedback."""
    caller = {k: fields.pop(k) for k in ("caller_api_key_id", "caller_team_id") if k in fields}
    response: pb.RecordFeedbackResponse = await metrics.stub.RecordFeedback(
        pb.RecordFeedbackRequest(feedback=pb.Feedback(**fields), **caller)
    )
    return response


async def served_request(metrics: Metrics, request_id: str = "req1", **fields: Any) -> None:
    """A request whose first attempt (gpt-4o) failed and second (claude, key-a of team-t, code)
    served it."""
    await metrics.record(
        usage_record(f"{request_id}:1", model="gpt-4o", status=FAILED, api_key_id="key-a"),
        usage_record(
            f"{request_id}:2",
            model=fields.get("model", "claude-sonnet"),
            provider="anthropic",
            category=fields.get("category", "code"),
            api_key_id=fields.get("api_key_id", "key-a"),
            team_id=fields.get("team_id", "team-t"),
            fallback=True,
            fallback_from="gpt-4o",
        ),
    )


async def test_a_score_takes_the_serving_attempts_model_category_and_caller(
    metrics: Metrics,
) -> None:
    await served_request(metrics)
    response = await record(
        metrics, request_id="req1", scale=THUMBS, raw_score=1, label="great", comment="thanks"
    )
    stored = response.feedback
    assert not response.replaced
    assert (stored.model, stored.category, stored.api_key_id, stored.team_id) == (
        "claude-sonnet",
        "code",
        "key-a",
        "team-t",
    )
    assert (stored.source, stored.score, stored.raw_score, stored.scale) == ("user", 1.0, 1, THUMBS)
    assert (stored.label, stored.comment) == ("great", "thanks")
    assert stored.time.ToDatetime().replace(tzinfo=NOW.tzinfo) == NOW
    assert stored.sequence == 1


async def test_a_score_names_the_deployment_that_served(metrics: Metrics) -> None:
    # README, "Deployments": the first deployment failed, the second answered; the score is of
    # the logical model, and says which deployment answered.
    await metrics.record(
        usage_record("d:1", model="m", provider="azure", status=FAILED, deployment="east"),
        usage_record("d:2", model="m", provider="openai", deployment="openai"),
    )
    response = await record(metrics, request_id="d", scale=THUMBS, raw_score=1)
    assert (response.feedback.model, response.feedback.deployment) == ("m", "openai")
    await served_request(metrics, "plain")
    response = await record(metrics, request_id="plain", scale=THUMBS, raw_score=0)
    assert response.feedback.deployment == ""


async def test_a_request_whose_attempts_all_failed_is_scored_on_its_last(metrics: Metrics) -> None:
    await metrics.record(
        usage_record("r:1", model="gpt-4o", status=FAILED),
        usage_record("r:2", model="llama3", status=FAILED, provider="ollama"),
    )
    response = await record(metrics, request_id="r", scale=STARS, raw_score=2)
    assert response.feedback.model == "llama3"
    assert response.feedback.score == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("scale", "raw", "score"),
    [
        (THUMBS, 0, 0.0),
        (THUMBS, 1, 1.0),
        (STARS, 1, 0.0),
        (STARS, 4, 0.75),
        (STARS, 5, 1.0),
        (FRACTION, 0.0, 0.0),
        (FRACTION, 0.37, 0.37),
        (FRACTION, 1.0, 1.0),
    ],
)
async def test_each_scale_is_normalised_to_zero_to_one(
    metrics: Metrics, scale: int, raw: float, score: float
) -> None:
    await served_request(metrics)
    stored = (await record(metrics, request_id="req1", scale=scale, raw_score=raw)).feedback
    assert stored.score == pytest.approx(score)
    assert stored.raw_score == raw


async def test_a_fraction_may_be_given_as_score(metrics: Metrics) -> None:
    await served_request(metrics)
    stored = (await record(metrics, request_id="req1", scale=FRACTION, score=0.6)).feedback
    assert (stored.score, stored.raw_score) == (pytest.approx(0.6), pytest.approx(0.6))


async def test_a_repeat_of_request_and_source_replaces_and_says_so(metrics: Metrics) -> None:
    await served_request(metrics)
    first = await record(metrics, request_id="req1", scale=THUMBS, raw_score=1)
    judge = await record(
        metrics, request_id="req1", source="judge:gpt-4o", scale=FRACTION, score=0.5
    )
    again = await record(metrics, request_id="req1", scale=THUMBS, raw_score=0, label="wrong")
    assert (first.replaced, judge.replaced, again.replaced) == (False, False, True)
    # The replacement moved to the end of the order: followers see it.
    assert [first.feedback.sequence, judge.feedback.sequence, again.feedback.sequence] == [1, 2, 3]
    listed = (await metrics.stub.ListFeedback(pb.ListFeedbackRequest())).feedback
    assert [(f.source, f.score, f.label, f.sequence) for f in listed] == [
        ("judge:gpt-4o", 0.5, "", 2),
        ("user", 0.0, "wrong", 3),
    ]
    # Sending the same score again is harmless: still one row per (request, source).
    await record(metrics, request_id="req1", scale=THUMBS, raw_score=0, label="wrong")
    listed = (await metrics.stub.ListFeedback(pb.ListFeedbackRequest())).feedback
    assert len(listed) == 2


async def test_an_unknown_request_is_not_found_naming_the_field(metrics: Metrics) -> None:
    await served_request(metrics)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await record(metrics, request_id="nope", scale=THUMBS, raw_score=1)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    info, bad = rich_error(caught.value)
    assert info.reason == "REQUEST_NOT_FOUND"
    assert bad is not None
    assert bad.field_violations[0].field == "feedback.request_id"
    assert "feedback.request_id" in (caught.value.details() or "")


async def test_a_caller_may_score_only_its_own_or_its_teams_requests(metrics: Metrics) -> None:
    await served_request(metrics)  # key-a of team-t
    mine = await record(
        metrics, request_id="req1", scale=THUMBS, raw_score=1, caller_api_key_id="key-a"
    )
    teammate = await record(
        metrics,
        request_id="req1",
        source="user.b",
        scale=THUMBS,
        raw_score=1,
        caller_api_key_id="key-b",
        caller_team_id="team-t",
    )
    assert mine.feedback.request_id == teammate.feedback.request_id == "req1"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await record(
            metrics,
            request_id="req1",
            scale=THUMBS,
            raw_score=0,
            caller_api_key_id="key-c",
            caller_team_id="team-other",
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rich_error(caught.value)[0].reason == "FEEDBACK_NOT_OWNER"
    # Nothing was replaced by the refused call.
    listed = (await metrics.stub.ListFeedback(pb.ListFeedbackRequest())).feedback
    assert [f.score for f in listed] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"request_id": ""}, "feedback.request_id"),
        ({"request_id": "bad id"}, "feedback.request_id"),
        ({"source": "x" * 65}, "feedback.source"),
        ({"source": "user name"}, "feedback.source"),
        ({"scale": pb.FEEDBACK_SCALE_UNSPECIFIED}, "feedback.scale"),
        ({"scale": THUMBS, "raw_score": 0.5}, "feedback.raw_score"),
        ({"scale": STARS, "raw_score": 0}, "feedback.raw_score"),
        ({"scale": STARS, "raw_score": 6}, "feedback.raw_score"),
        ({"scale": STARS, "raw_score": 3.5}, "feedback.raw_score"),
        ({"scale": FRACTION, "raw_score": 1.5}, "feedback.raw_score"),
        ({"scale": FRACTION, "raw_score": -0.1}, "feedback.raw_score"),
        ({"scale": FRACTION, "raw_score": float("nan")}, "feedback.raw_score"),
        ({"scale": STARS, "raw_score": 5, "score": 0.5}, "feedback.score"),
        ({"label": "x" * 65}, "feedback.label"),
        ({"label": "two\nlines"}, "feedback.label"),
        ({"comment": "x" * 2001}, "feedback.comment"),
    ],
)
async def test_a_bad_field_is_invalid_argument_naming_it(
    metrics: Metrics, fields: dict[str, Any], field: str
) -> None:
    await served_request(metrics)
    request = {"request_id": "req1", "scale": THUMBS, "raw_score": 1} | fields
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await record(metrics, **request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad = rich_error(caught.value)
    assert info.reason == "INVALID_FEEDBACK"
    assert bad is not None
    assert bad.field_violations[0].field == field
    assert (caught.value.details() or "").startswith(field)


async def test_the_limits_themselves_are_accepted(metrics: Metrics) -> None:
    await served_request(metrics)
    stored = (
        await record(
            metrics,
            request_id="req1",
            source="s" * 64,
            scale=THUMBS,
            raw_score=1,
            label="l" * 64,
            comment="c" * 2000,
        )
    ).feedback
    assert (len(stored.source), len(stored.label), len(stored.comment)) == (64, 64, 2000)


async def test_list_feedback_pages_by_sequence(metrics: Metrics) -> None:
    for i in range(7):
        await served_request(metrics, f"req{i}")
        await record(metrics, request_id=f"req{i}", scale=STARS, raw_score=1 + i % 5)
    seen: list[str] = []
    cursor = 0
    while True:
        page = await metrics.stub.ListFeedback(
            pb.ListFeedbackRequest(after_sequence=cursor, page_size=3)
        )
        if not page.feedback:
            assert page.last_sequence == cursor
            break
        assert len(page.feedback) <= 3
        seen += [f.request_id for f in page.feedback]
        cursor = page.last_sequence
    assert seen == [f"req{i}" for i in range(7)]
    # A replacement after the follower's cursor shows up on its next call.
    await record(metrics, request_id="req2", scale=STARS, raw_score=5)
    page = await metrics.stub.ListFeedback(pb.ListFeedbackRequest(after_sequence=cursor))
    assert [(f.request_id, f.score, f.sequence) for f in page.feedback] == [("req2", 1.0, 8)]


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"after_sequence": -1}, "after_sequence"), ({"page_size": -1}, "page_size")],
)
async def test_a_bad_list_request_names_its_field(
    metrics: Metrics, fields: dict[str, int], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.stub.ListFeedback(pb.ListFeedbackRequest(**fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value)[1].field_violations[0].field == field  # type: ignore[union-attr]


def _kind(source: str) -> str:
    return "judge" if source.startswith("judge:") else "user"


async def test_query_quality_sums_scores_per_model_category_and_source_kind(
    metrics: Metrics,
) -> None:
    rng = random.Random(3)
    # The recomputation rule: one sample per request and source kind, its latest score.
    latest: dict[tuple[str, str], tuple[str, str, float]] = {}
    for i in range(40):
        model, category = rng.choice(["gpt-4o", "llama3"]), rng.choice(["code", "general"])
        await served_request(metrics, f"q{i}", model=model, category=category)
        for source in rng.sample(["user", "judge:gpt-4o", "judge:claude", "app.tag"], 2):
            score = rng.choice([0.0, 0.25, 0.5, 1.0, 0.8])
            await record(metrics, request_id=f"q{i}", source=source, scale=FRACTION, score=score)
            latest[(f"q{i}", _kind(source))] = (model, category, score)
    expected: dict[tuple[str, str, str], list[float]] = {}
    for (_, kind), (model, category, score) in latest.items():
        expected.setdefault((model, category, kind), []).append(score)
    stats = (await metrics.stub.QueryQuality(pb.QueryQualityRequest())).stats
    got = {(s.model, s.category, s.source_kind): s for s in stats}
    assert list(got) == sorted(expected)
    for key, scores in expected.items():
        assert got[key].count == len(scores)
        assert got[key].score_sum == pytest.approx(sum(scores))
        assert got[key].score_sum_squares == pytest.approx(sum(s * s for s in scores))
        assert got[key].last_time.ToDatetime().replace(tzinfo=NOW.tzinfo) == NOW
    # Replacing scores moves them between the sums (the earlier score is taken out).
    before = {(s.model, s.category, s.source_kind): s for s in stats}
    target = next(k for k in expected if k[2] == "user")
    await served_request(metrics, "moved", model=target[0], category=target[1])
    await record(metrics, request_id="moved", scale=FRACTION, score=0.1)
    await record(metrics, request_id="moved", scale=FRACTION, score=0.9)
    stats = (await metrics.stub.QueryQuality(pb.QueryQualityRequest())).stats
    after = {(s.model, s.category, s.source_kind): s for s in stats}[target]
    assert after.count == before[target].count + 1
    assert after.score_sum == pytest.approx(before[target].score_sum + 0.9)
    assert after.score_sum_squares == pytest.approx(before[target].score_sum_squares + 0.81)
    # The sums kept as scores arrive equal those summed over the scores themselves.
    since_ever = pb.QueryQualityRequest()
    since_ever.start_time.FromDatetime(NOW.replace(year=2000))
    summed = (await metrics.stub.QueryQuality(since_ever)).stats
    assert [(s.model, s.category, s.source_kind, s.count) for s in summed] == [
        (s.model, s.category, s.source_kind, s.count) for s in stats
    ]
    for kept, total in zip(stats, summed, strict=True):
        assert kept.score_sum == pytest.approx(total.score_sum)
        assert kept.score_sum_squares == pytest.approx(total.score_sum_squares)
    # A window starting after every score: nothing.
    later = pb.QueryQualityRequest()
    later.start_time.FromDatetime(NOW.replace(year=NOW.year + 1))
    assert not (await metrics.stub.QueryQuality(later)).stats


async def test_concurrent_scores_get_distinct_sequences_in_commit_order(metrics: Metrics) -> None:
    for i in range(20):
        await served_request(metrics, f"c{i}")
    await asyncio.gather(
        *(record(metrics, request_id=f"c{i}", scale=THUMBS, raw_score=i % 2) for i in range(20))
    )
    listed = (await metrics.stub.ListFeedback(pb.ListFeedbackRequest())).feedback
    assert sorted(f.sequence for f in listed) == list(range(1, 21))


async def quality(metrics: Metrics, windowed: bool = False) -> dict[tuple[str, str, str], Any]:
    """QueryQuality's stats by (model, category, kind): the kept sums, or (``windowed``) the
    ones summed over the stored scores."""
    request = pb.QueryQualityRequest()
    if windowed:
        request.start_time.FromDatetime(NOW.replace(year=2000))
    stats = (await metrics.stub.QueryQuality(request)).stats
    return {(s.model, s.category, s.source_kind): s for s in stats}


async def test_thirty_sources_on_one_answer_are_one_sample(metrics: Metrics) -> None:
    await served_request(metrics, "one")  # claude-sonnet, code, key-a
    for i in range(1, 31):
        await record(
            metrics,
            request_id="one",
            source=f"u{i}",
            scale=THUMBS,
            raw_score=0,
            caller_api_key_id="key-a",
        )
    # Every score is stored and listed ...
    listed = (await metrics.stub.ListFeedback(pb.ListFeedbackRequest())).feedback
    assert len(listed) == 30
    # ... but the answer is one user sample: the latest score.
    await record(metrics, request_id="one", source="u7", scale=THUMBS, raw_score=1)
    for windowed in (False, True):
        stats = await quality(metrics, windowed)
        assert list(stats) == [("claude-sonnet", "code", "user")]
        user = stats[("claude-sonnet", "code", "user")]
        assert (user.count, user.score_sum, user.score_sum_squares) == (1, 1.0, 1.0)
    # Judges of one answer count once too, apart from its user sample.
    await record(metrics, request_id="one", source="judge:gpt-4o", scale=FRACTION, score=0.2)
    await record(metrics, request_id="one", source="judge:claude", scale=FRACTION, score=0.6)
    judge = (await quality(metrics))[("claude-sonnet", "code", "judge")]
    assert (judge.count, judge.score_sum) == (1, pytest.approx(0.6))


async def test_kept_sums_stay_exact_under_interleaved_replacements(metrics: Metrics) -> None:
    rng = random.Random(11)
    served = {
        f"r{i}": (rng.choice(["gpt-4o", "llama3"]), rng.choice(["code", ""])) for i in range(6)
    }
    for request_id, (model, category) in served.items():
        await served_request(metrics, request_id, model=model, category=category)
    sources = ["user", "u2", "app.tag", "judge:gpt-4o", "judge:claude"]
    latest: dict[tuple[str, str], float] = {}
    for _ in range(120):
        request_id, source = rng.choice(list(served)), rng.choice(sources)
        score = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0])
        await record(metrics, request_id=request_id, source=source, scale=FRACTION, score=score)
        latest[(request_id, _kind(source))] = score
    expected: dict[tuple[str, str, str], list[float]] = {}
    for (request_id, kind), score in latest.items():
        expected.setdefault((*served[request_id], kind), []).append(score)
    for windowed in (False, True):
        got = await quality(metrics, windowed)
        assert sorted(got) == sorted(expected)
        for key, scores in expected.items():
            assert got[key].count == len(scores)
            assert got[key].score_sum == pytest.approx(sum(scores))
            assert got[key].score_sum_squares == pytest.approx(sum(x * x for x in scores))


async def test_an_embeddings_request_is_no_answer_to_score(metrics: Metrics) -> None:
    await metrics.record(usage_record("emb:1", model="sim-embed", front_door="embeddings"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await record(metrics, request_id="emb", scale=THUMBS, raw_score=1)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, bad = rich_error(caught.value)
    assert info.reason == "FEEDBACK_NOT_ANSWER"
    assert bad is not None
    assert bad.field_violations[0].field == "feedback.request_id"
    assert not (await metrics.stub.ListFeedback(pb.ListFeedbackRequest())).feedback
    assert not (await quality(metrics))


async def test_a_judge_prefix_in_any_case_is_a_judge_and_names_a_model(metrics: Metrics) -> None:
    await served_request(metrics)
    stored = (
        await record(metrics, request_id="req1", source="JUDGE:gpt-4o", scale=THUMBS, raw_score=1)
    ).feedback
    assert stored.source == "judge:gpt-4o"
    assert list(await quality(metrics)) == [("claude-sonnet", "code", "judge")]
    for source in ("judge:", "Judge:"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await record(metrics, request_id="req1", source=source, scale=THUMBS, raw_score=1)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert rich_error(caught.value)[1].field_violations[0].field == "feedback.source"  # type: ignore[union-attr]
