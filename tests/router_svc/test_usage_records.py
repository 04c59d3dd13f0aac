"""The usage record has one conversion, and it covers every field of both sides."""

from __future__ import annotations

from dataclasses import fields

from llmrouter.v1 import metrics_service_pb2
from router_svc.usage import UsageEvent, from_record, to_record
from router_svc.usage.records import CONVERTED, COPIED, DERIVED, EVENT_ONLY

RECORD_FIELDS = {f.name for f in metrics_service_pb2.UsageRecord.DESCRIPTOR.fields}
EVENT_FIELDS = {f.name for f in fields(UsageEvent)}


def full_event() -> UsageEvent:
    """An event with no field at its default (times exactly representable in nanoseconds)."""
    return UsageEvent(
        request_id="req-1",
        attempt=2,
        time=1_700_000_000.5,
        provider="openai",
        model="gpt-x",
        category="code",
        task_type="refactor",
        source="ide",
        api_key_id="alice",
        prompt_tokens=11,
        completion_tokens=7,
        cost_usd=0.125,
        duration_s=1.25,
        ttft_s=0.5,
        status="failed",
        error_type="RATE_LIMITED",
        fallback=True,
        fallback_from="gpt-y",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        fallback_reason="RATE_LIMITED",
        metadata={"team": "core"},
        local=True,
        streamed=True,
        client_request_id="client-9",
        cache_read_tokens=5,
        cache_write_tokens=3,
        reasoning_tokens=2,
        usage_estimated=True,
        saved_cost_usd=0.25,
        front_door="messages",
        team_id="team-a",
        deployment="azure-east",
    )


def test_every_record_field_comes_from_the_event() -> None:
    """A UsageRecord field added to the proto but not to UsageEvent (or records.py) fails here."""
    covered = set(COPIED) | set(CONVERTED.values()) | DERIVED
    assert RECORD_FIELDS - covered == set(), "UsageRecord fields with no UsageEvent counterpart"
    assert covered - RECORD_FIELDS == set(), "records.py names fields UsageRecord lacks"


def test_every_event_field_reaches_the_record_or_is_declared_router_only() -> None:
    """A UsageEvent field added without a UsageRecord counterpart fails here."""
    covered = set(COPIED) | set(CONVERTED) | EVENT_ONLY
    assert EVENT_FIELDS - covered == set(), "UsageEvent fields with no UsageRecord counterpart"
    assert covered - EVENT_FIELDS == set(), "records.py names fields UsageEvent lacks"
    assert not set(COPIED) & EVENT_ONLY


def test_a_full_event_sets_every_record_field() -> None:
    event = full_event()
    record = to_record(event)
    assert {f.name for f, _ in record.ListFields()} == RECORD_FIELDS
    assert record.id == "req-1:2"
    assert record.total_tokens == 18
    assert record.status == metrics_service_pb2.USAGE_STATUS_FAILED
    assert record.duration.ToNanoseconds() == 1_250_000_000
    assert record.time_to_first_token.ToNanoseconds() == 500_000_000
    assert dict(record.metadata) == {"team": "core"}


def test_round_trip_keeps_every_field_the_ledger_keeps() -> None:
    event = full_event()
    back = from_record(
        metrics_service_pb2.UsageRecord.FromString(to_record(event).SerializeToString())
    )
    for name in EVENT_FIELDS - EVENT_ONLY:
        assert getattr(back, name) == getattr(event, name), name
    assert back.fallback_reason == "RATE_LIMITED"


def test_no_time_to_first_token_stays_unset() -> None:
    event = UsageEvent(
        **{**{f.name: getattr(full_event(), f.name) for f in fields(UsageEvent)}, "ttft_s": None}
    )
    record = to_record(event)
    assert not record.HasField("time_to_first_token")
    assert from_record(record).ttft_s is None
