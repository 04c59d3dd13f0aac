"""RecordUsage through a real gRPC server into a real ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from llmrouter.v1 import metrics_service_pb2 as pb
from metrics_svc.config import MetricsConfig
from metrics_svc.records import UsageRow, UsageStatus
from metrics_svc.server import start

from .support import NOW, Metrics, rich_error, usage_record


async def test_inserts_a_batch_and_reports_the_count(metrics: Metrics) -> None:
    response = await metrics.record(usage_record("a:1"), usage_record("b:1"), usage_record("c:1"))

    assert (response.inserted_count, response.duplicate_count) == (3, 0)
    assert (await metrics.query()).totals.requests == 3


async def test_replayed_ids_are_counted_as_duplicates_and_not_stored_twice(
    metrics: Metrics,
) -> None:
    first = [usage_record(f"r{i}:1", cost_usd=0.01 * (i + 1)) for i in range(3)]
    await metrics.record(*first)

    # A client retrying after a lost response resends the batch, plus one new record.
    replay = await metrics.record(*first, usage_record("r3:1", cost_usd=0.5))

    assert (replay.inserted_count, replay.duplicate_count) == (1, 3)
    totals = (await metrics.query()).totals
    assert totals.requests == 4
    assert totals.cost_usd == pytest.approx(0.01 + 0.02 + 0.03 + 0.5)


async def test_records_sharing_a_client_request_id_are_each_stored_and_replays_are_not(
    metrics: Metrics,
) -> None:
    # A client that sends the same X-Request-Id three times makes three requests: the router
    # gives each its own id, the client's only rides along. The outbox then ships twice.
    batch = [usage_record(f"{n:032x}:1", client_request_id="same") for n in range(3)]

    first = await metrics.record(*batch)
    replay = await metrics.record(*batch)

    assert (first.inserted_count, first.duplicate_count) == (3, 0)
    assert (replay.inserted_count, replay.duplicate_count) == (0, 3)
    assert (await metrics.query()).totals.requests == 3
    for record in batch:
        stored = await metrics.running.repository.get(record.id)
        assert stored is not None
        assert stored.client_request_id == "same"


async def test_a_replay_does_not_overwrite_the_stored_record(metrics: Metrics) -> None:
    await metrics.record(usage_record("a:1", cost_usd=0.25))

    replay = await metrics.record(usage_record("a:1", cost_usd=99.0))

    assert (replay.inserted_count, replay.duplicate_count) == (0, 1)
    assert (await metrics.query()).totals.cost_usd == pytest.approx(0.25)


async def test_an_id_repeated_within_one_batch_is_stored_once(metrics: Metrics) -> None:
    response = await metrics.record(usage_record("a:1"), usage_record("a:1"), usage_record("b:1"))

    assert (response.inserted_count, response.duplicate_count) == (2, 1)
    assert (await metrics.query()).totals.requests == 2


async def test_a_large_batch_is_stored_and_replayed_exactly(metrics: Metrics) -> None:
    # Thousands of rows in one transaction, most of them replayed in the second batch.
    records = [usage_record(f"big{i}:1", cost_usd=0.001) for i in range(2500)]
    first = await metrics.record(*records)

    replay = await metrics.record(*records[1000:], usage_record("extra:1"))

    assert (first.inserted_count, first.duplicate_count) == (2500, 0)
    assert (replay.inserted_count, replay.duplicate_count) == (1, 1500)
    totals = (await metrics.query()).totals
    assert totals.requests == 2501


async def test_an_empty_batch_is_accepted(metrics: Metrics) -> None:
    response = await metrics.record()

    assert (response.inserted_count, response.duplicate_count) == (0, 0)


def _set(field: str, value: object) -> Callable[[pb.UsageRecord], None]:
    return lambda record: setattr(record, field, value)


def _negative_duration(record: pb.UsageRecord) -> None:
    record.duration.FromTimedelta(timedelta(seconds=-1))


def _negative_time_to_first_token(record: pb.UsageRecord) -> None:
    record.time_to_first_token.nanos = -1


def _time_after_year_9999(record: pb.UsageRecord) -> None:
    record.time.seconds = 253_402_300_800  # 10000-01-01T00:00:00Z


def _time_with_bad_nanos(record: pb.UsageRecord) -> None:
    record.time.nanos = 1_000_000_000


INVALID = [
    pytest.param("attempt", _set("attempt", -1), id="negative-attempt"),
    pytest.param("id", _set("id", ""), id="missing-id"),
    pytest.param("prompt_tokens", _set("prompt_tokens", -1), id="negative-prompt-tokens"),
    pytest.param(
        "completion_tokens", _set("completion_tokens", -7), id="negative-completion-tokens"
    ),
    pytest.param("total_tokens", _set("total_tokens", -1), id="negative-total-tokens"),
    pytest.param(
        "cache_read_tokens", _set("cache_read_tokens", -1), id="negative-cache-read-tokens"
    ),
    pytest.param(
        "cache_write_tokens", _set("cache_write_tokens", -1), id="negative-cache-write-tokens"
    ),
    pytest.param("reasoning_tokens", _set("reasoning_tokens", -1), id="negative-reasoning-tokens"),
    # Above llmrouter.field_limits.MAX_TOKEN_COUNT (10^12; total_tokens twice it): beyond it
    # the ledger's sums could overflow a 64-bit integer.
    pytest.param("prompt_tokens", _set("prompt_tokens", 10**12 + 1), id="prompt-tokens-too-many"),
    pytest.param("total_tokens", _set("total_tokens", 2 * 10**12 + 1), id="total-tokens-too-many"),
    pytest.param(
        "cache_read_tokens", _set("cache_read_tokens", 2**62), id="cache-read-tokens-too-many"
    ),
    pytest.param("reasoning_tokens", _set("reasoning_tokens", 2**63 - 1), id="reasoning-at-int64"),
    pytest.param("cost_usd", _set("cost_usd", -0.01), id="negative-cost"),
    pytest.param("cost_usd", _set("cost_usd", math.nan), id="nan-cost"),
    pytest.param("status", _set("status", pb.USAGE_STATUS_UNSPECIFIED), id="unspecified-status"),
    pytest.param("status", _set("status", 99), id="unknown-status"),
    pytest.param("duration", _negative_duration, id="negative-duration"),
    pytest.param(
        "time_to_first_token", _negative_time_to_first_token, id="negative-time-to-first-token"
    ),
    pytest.param("time", _time_after_year_9999, id="time-after-year-9999"),
    pytest.param("time", _time_with_bad_nanos, id="time-nanos-out-of-range"),
    pytest.param(
        "client_request_id", _set("client_request_id", "c" * 129), id="client-request-id-too-long"
    ),
]


@pytest.mark.parametrize(("field", "spoil"), INVALID)
async def test_an_invalid_record_rejects_the_whole_batch(
    metrics: Metrics, field: str, spoil: Callable[[pb.UsageRecord], None]
) -> None:
    bad = usage_record("bad:1")
    spoil(bad)
    valid = [usage_record("a:1"), usage_record("b:1"), usage_record("c:1")]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.record(valid[0], valid[1], bad, valid[2])

    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    message = error.details() or ""
    assert message.startswith("records[2]")
    assert field in message
    info, bad_request = rich_error(error)
    assert (info.reason, info.domain) == ("INVALID_USAGE_RECORD", "llmrouter")
    assert (info.metadata["index"], info.metadata["field"]) == ("2", field)
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == [f"records[2].{field}"]
    # Nothing from the batch was stored: the valid records are new when sent again.
    assert (await metrics.query()).totals.requests == 0
    again = await metrics.record(*valid)
    assert (again.inserted_count, again.duplicate_count) == (3, 0)


async def test_the_error_message_names_the_record_and_field(metrics: Metrics) -> None:
    records = [usage_record(f"r0:{i}") for i in range(3)]
    records.append(usage_record("r1:1", prompt_tokens=-3))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.record(*records)

    assert caught.value.details() == "records[3] (id 'r1:1'): prompt_tokens must be >= 0"


async def test_a_count_above_the_bound_is_named_with_the_bound(metrics: Metrics) -> None:
    records = [usage_record("r0:1"), usage_record("r1:1", completion_tokens=10**15)]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.record(*records)

    assert caught.value.details() == (
        "records[1] (id 'r1:1'): completion_tokens must be at most 1000000000000"
    )
    # At the bound, a record is stored.
    stored = await metrics.record(usage_record("r2:1", prompt_tokens=10**12))
    assert stored.inserted_count == 1


async def test_every_violation_of_a_batch_is_listed(metrics: Metrics) -> None:
    records = [
        usage_record("a:1", cost_usd=-1.0),
        usage_record("b:1"),
        usage_record("c:1", status=pb.USAGE_STATUS_UNSPECIFIED, completion_tokens=-1),
    ]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await metrics.record(*records)

    _, bad_request = rich_error(caught.value)
    assert bad_request is not None
    assert sorted(v.field for v in bad_request.field_violations) == [
        "records[0].cost_usd",
        "records[2].completion_tokens",
        "records[2].status",
    ]
    assert "(and 2 more violations)" in (caught.value.details() or "")


async def test_total_tokens_default_to_prompt_plus_completion(metrics: Metrics) -> None:
    await metrics.record(
        usage_record("a:1", prompt_tokens=100, completion_tokens=50),  # total_tokens unset
        usage_record("b:1", prompt_tokens=10, completion_tokens=5, total_tokens=40),
    )

    assert (await metrics.query()).totals.total_tokens == 150 + 40


async def test_a_record_without_time_is_stamped_with_the_server_clock(metrics: Metrics) -> None:
    await metrics.record(usage_record("a:1", time=None))

    def window(start: datetime, end: datetime) -> dict[str, datetime]:
        return {"start_time": start, "end_time": end}

    inside = await metrics.query(**window(NOW, NOW + timedelta(seconds=1)))
    before = await metrics.query(**window(NOW - timedelta(hours=1), NOW))
    assert (inside.totals.requests, before.totals.requests) == (1, 0)


async def test_every_field_is_stored(metrics: Metrics) -> None:
    when = datetime(2026, 11, 19, 23, 59, 58, 123456, tzinfo=UTC)
    record = usage_record(
        "req-9:2",
        time=when,
        provider="anthropic",
        model="claude-sonnet",
        prompt_tokens=1200,
        completion_tokens=300,
        total_tokens=1500,
        cost_usd=0.0081,
        duration_ms=1234,
        status=pb.USAGE_STATUS_FAILED,
        category="code",
        task_type="refactor",
        source="ide",
        api_key_id="key-7",
        time_to_first_token=timedelta(milliseconds=250),
        error_type="RATE_LIMITED",
        fallback=True,
        fallback_from="gpt-4o",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        metadata={"team": "search", "ticket": "42"},
        local=True,
        streamed=True,
        client_request_id="client-7",
        fallback_reason="SERVER_ERROR",
        cache_read_tokens=1000,
        cache_write_tokens=100,
        reasoning_tokens=120,
        usage_estimated=True,
        saved_cost_usd=0.0042,
        front_door="messages",
        team_id="team-a",
        deployment="azure-east",
    )
    # span_id names the attempt's span for the ledger's own trace; it is not a column.
    assert {f.name for f, _ in record.ListFields()} == set(
        pb.UsageRecord.DESCRIPTOR.fields_by_name
    ) - {"span_id"}, "a UsageRecord field this test does not send (and check) is not stored"
    await metrics.record(record)

    stored = await metrics.running.repository.get("req-9:2")

    assert stored == UsageRow(
        id="req-9:2",
        request_id="req-9",
        attempt=2,
        time=when,
        provider="anthropic",
        model="claude-sonnet",
        status=UsageStatus.FAILED,
        category="code",
        task_type="refactor",
        source="ide",
        api_key_id="key-7",
        prompt_tokens=1200,
        completion_tokens=300,
        total_tokens=1500,
        cost_usd=0.0081,
        duration_ms=1234.0,
        ttft_ms=250.0,
        error_type="RATE_LIMITED",
        fallback=True,
        fallback_from="gpt-4o",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        metadata={"team": "search", "ticket": "42"},
        local=True,
        streamed=True,
        client_request_id="client-7",
        fallback_reason="SERVER_ERROR",
        cache_read_tokens=1000,
        cache_write_tokens=100,
        reasoning_tokens=120,
        usage_estimated=True,
        saved_cost_usd=0.0042,
        front_door="messages",
        team_id="team-a",
        deployment="azure-east",
    )
    assert stored.time.tzinfo is not None
    assert stored.time.utcoffset() == timedelta(0)


async def test_time_to_first_token_is_null_when_not_sent(metrics: Metrics) -> None:
    await metrics.record(usage_record("a:1"))

    stored = await metrics.running.repository.get("a:1")

    assert stored is not None
    assert stored.ttft_ms is None


async def test_sqlite_ledger_uses_write_ahead_logging(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "metrics.sqlite3"
    running = await start(
        MetricsConfig(port=0, prometheus_port=0, database_url=f"sqlite+aiosqlite:///{path}")
    )
    await running.stop()

    with sqlite3.connect(path) as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"


async def test_the_batch_insert_names_every_column_of_the_migrated_ledger(tmp_path: Path) -> None:
    # The driver-level insert names its columns itself (derived from tables.py): a migration
    # adding a column that tables.py lacks would leave it at its default for every record. So
    # compare the statements' column lists with the columns of a really migrated database.
    import re

    from metrics_svc import ingest
    from metrics_svc.repository import Repository

    path = tmp_path / "ledger.sqlite3"
    repository = await Repository.create(f"sqlite+aiosqlite:///{path}")
    await repository.close()
    with sqlite3.connect(path) as db:
        migrated = [row[1] for row in db.execute("PRAGMA table_info(usage_records)")]
    for statement in (ingest._SQLITE_INSERT, ingest._PG_INSERT):
        named = re.match(r"INSERT INTO usage_records \(([^)]*)\)", statement)
        assert named is not None, statement
        inserted = [name.strip().strip('"') for name in named.group(1).split(",")]
        assert sorted(inserted) == sorted(migrated)
    assert sorted(ingest.COLUMNS) == sorted(migrated)


def test_every_usage_record_field_has_a_ledger_column_and_a_row_field() -> None:
    # The conversion and the insert are derived by name: a UsageRecord field added to the proto
    # without a usage_records column (tables.py and a migration) and a UsageRow field would be
    # dropped silently, for every record.
    from metrics_svc.tables import usage_records
    from metrics_svc.translate import NOT_STORED, RENAMED

    columns = {c.name for c in usage_records.columns}
    stored = {
        RENAMED.get(name, name)
        for name in pb.UsageRecord.DESCRIPTOR.fields_by_name
        if name not in NOT_STORED
    }
    assert stored - columns == set(), "UsageRecord fields with no usage_records column"
    assert columns - stored == set(), "usage_records columns no UsageRecord field fills"
    assert {f.name for f in dataclasses.fields(UsageRow)} == columns
    assert set(pb.UsageRecord.DESCRIPTOR.fields_by_name) >= NOT_STORED
