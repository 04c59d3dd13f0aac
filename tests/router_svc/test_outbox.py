"""The usage outbox: durable while the metrics service is away, bounded, resumable."""

from __future__ import annotations

from pathlib import Path

import grpc

from llmrouter.serving import GrpcServer
from router_svc.usage import UsageEvent, UsageOutbox

from .conftest import FakeMetrics, wait_for


def event(n: int, **overrides: object) -> UsageEvent:
    fields: dict[str, object] = dict(
        request_id=f"req-{n}",
        attempt=1,
        time=1_700_000_000.0 + n,
        provider="simulated",
        model="sim-small",
        category="default",
        task_type="",
        source="tests",
        api_key_id="",
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=0.0,
        duration_s=0.01,
        ttft_s=None,
        status="succeeded",
        error_type="",
        fallback=False,
        fallback_from="",
        trace_id="",
    )
    fields.update(overrides)
    return UsageEvent(**fields)  # type: ignore[arg-type]


async def test_records_wait_while_metrics_is_down_and_arrive_once(
    tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    metrics, server = fake_metrics
    metrics.fail_with = grpc.StatusCode.UNAVAILABLE
    outbox = UsageOutbox(
        str(tmp_path / "o.sqlite3"),
        f"127.0.0.1:{server.port}",
        batch_size=7,
        flush_interval_s=0.01,
        max_backoff_s=0.05,
    )
    await outbox.start()
    for n in range(50):
        outbox.submit(event(n))
    await wait_for(lambda: outbox.stats.ship_failures >= 3)
    assert metrics.records == {}
    assert outbox.depth == 50
    metrics.fail_with = None
    await outbox.flush()
    assert sorted(metrics.records) == sorted(f"req-{n}:1" for n in range(50))
    assert outbox.stats.dropped == 0
    await outbox.close()


async def test_outbox_resumes_after_restart(
    tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    metrics, server = fake_metrics
    metrics.fail_with = grpc.StatusCode.UNAVAILABLE
    path = str(tmp_path / "o.sqlite3")
    first = UsageOutbox(path, f"127.0.0.1:{server.port}", flush_interval_s=0.01)
    await first.start()
    for n in range(20):
        first.submit(event(n))
    await first.close(timeout_s=0.2)  # metrics still down: the records stay on disk
    assert metrics.records == {}

    metrics.fail_with = None
    second = UsageOutbox(path, f"127.0.0.1:{server.port}", flush_interval_s=0.01)
    assert second.depth == 20
    await second.start()
    await second.flush()
    assert len(metrics.records) == 20
    await second.close()


async def test_bound_drops_and_counts(
    tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    metrics, server = fake_metrics
    metrics.fail_with = grpc.StatusCode.UNAVAILABLE
    outbox = UsageOutbox(
        str(tmp_path / "o.sqlite3"),
        f"127.0.0.1:{server.port}",
        max_records=10,
        flush_interval_s=0.01,
    )
    await outbox.start()
    for n in range(15):
        outbox.submit(event(n))
    assert outbox.stats.dropped == 5
    metrics.fail_with = None
    await outbox.flush()
    assert sorted(metrics.records) == sorted(f"req-{n}:1" for n in range(10))
    await outbox.close()


class PickyMetrics(FakeMetrics):
    """Rejects batches holding a record with a negative cost, like the real service (the
    router's conversion passes costs on: token counts out of range it refuses itself)."""

    async def RecordUsage(self, request, context):  # type: ignore[no-untyped-def]
        if any(r.cost_usd < 0 for r in request.records):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "records[0].cost_usd")
        return await super().RecordUsage(request, context)


async def test_invalid_records_are_set_aside_not_blocking(tmp_path: Path) -> None:
    from llmrouter.serving import start_grpc_server
    from llmrouter.v1 import metrics_service_pb2_grpc

    picky = PickyMetrics()
    server = await start_grpc_server(
        "127.0.0.1:0",
        lambda s: metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(picky, s),
        [],
    )
    outbox = UsageOutbox(
        str(tmp_path / "o.sqlite3"), f"127.0.0.1:{server.port}", flush_interval_s=0.01
    )
    await outbox.start()
    outbox.submit(event(1))
    outbox.submit(event(2, cost_usd=-1.0))
    outbox.submit(event(3))
    await outbox.flush()
    assert sorted(picky.records) == ["req-1:1", "req-3:1"]
    assert outbox.stats.rejected == 1
    await outbox.close()
    await server.stop(0)


async def test_every_record_field_is_filled_from_the_event(
    tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    # An event with every field set: a UsageRecord field the conversion misses stays unset.
    metrics, server = fake_metrics
    outbox = UsageOutbox(
        str(tmp_path / "o.sqlite3"), f"127.0.0.1:{server.port}", flush_interval_s=0.01
    )
    await outbox.start()
    full = event(
        1,
        attempt=2,
        category="code",
        task_type="refactor",
        api_key_id="key-7",
        cost_usd=0.5,
        ttft_s=0.25,
        status="failed",
        error_type="RATE_LIMITED",
        fallback=True,
        fallback_from="a",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="00f067aa0ba902b7",
        fallback_reason="RATE_LIMITED",
        metadata={"team": "search"},
        local=True,
        streamed=True,
        client_request_id="client-7",
        cache_read_tokens=40,
        cache_write_tokens=8,
        reasoning_tokens=3,
        usage_estimated=True,
        saved_cost_usd=0.125,
        team_id="team-search",
        front_door="messages",
        deployment="azure-east",
    )
    outbox.submit(full)
    await outbox.flush()
    await outbox.close()

    record = metrics.records["req-1:2"]
    assert {f.name for f, _ in record.ListFields()} == set(record.DESCRIPTOR.fields_by_name)
    assert (record.request_id, record.client_request_id) == ("req-1", "client-7")
    assert (record.cache_read_tokens, record.cache_write_tokens, record.reasoning_tokens) == (
        40,
        8,
        3,
    )
    assert record.usage_estimated


async def test_records_arrive_field_for_field(
    tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    # Records of every size class (1-, 2- and 3-byte lengths on the wire) in one batch.
    metrics, server = fake_metrics
    outbox = UsageOutbox(
        str(tmp_path / "o.sqlite3"), f"127.0.0.1:{server.port}", flush_interval_s=0.01
    )
    await outbox.start()
    sent = [
        event(n, source="s" * size, metadata={"team": "t" * n}, trace_id=f"{n:032x}")
        for n, size in enumerate((0, 1, 100, 200, 20_000))
    ]
    for one in sent:
        outbox.submit(one)
    await outbox.flush()
    await outbox.close()
    assert len(metrics.records) == len(sent)
    for one in sent:
        record = metrics.records[f"{one.request_id}:1"]
        assert record.source == one.source
        assert dict(record.metadata) == one.metadata
        assert record.trace_id == one.trace_id
        assert record.prompt_tokens == one.prompt_tokens


async def test_batches_stay_under_the_message_limit_and_a_huge_record_is_set_aside(
    tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    """The fake metrics service receives at most gRPC's default 4 MiB: a batch of every pending
    record (about 7.5 MiB) would be refused, and retried, forever."""
    metrics, server = fake_metrics
    outbox = UsageOutbox(
        str(tmp_path / "o.sqlite3"), f"127.0.0.1:{server.port}", flush_interval_s=0.01
    )
    await outbox.start()
    big = "v" * (1536 * 1024)
    for n in range(5):
        outbox.submit(event(n, metadata={"note": big}))
    outbox.submit(event(99, metadata={"note": "v" * (5 * 1024 * 1024)}))
    # Not flush(): it can return while a group is being written to the file.
    await wait_for(lambda: outbox.stats.shipped + outbox.stats.rejected == 6)
    assert sorted(metrics.records) == sorted(f"req-{n}:1" for n in range(5))
    assert outbox.stats.rejected == 1
    assert outbox.stats.ship_failures == 0
    await outbox.close()


async def test_flush_returns_only_once_everything_submitted_has_arrived(
    tmp_path: Path, fake_metrics: tuple[FakeMetrics, GrpcServer]
) -> None:
    # flush() used to return while a group was being written to the file (neither pending in
    # memory nor counted as stored): callers, shutdown included, saw an empty outbox too early.
    metrics, server = fake_metrics
    outbox = UsageOutbox(
        str(tmp_path / "o.sqlite3"), f"127.0.0.1:{server.port}", flush_interval_s=0.001
    )
    await outbox.start()
    submitted = 0
    try:
        for round_ in range(15):
            for n in range(300):
                outbox.submit(event(round_ * 1000 + n, source="s" * 200))
                submitted += 1
            await outbox.flush()
            assert len(metrics.records) == submitted, f"round {round_}"
    finally:
        await outbox.close()
