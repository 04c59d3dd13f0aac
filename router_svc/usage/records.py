"""The one protobuf conversion of the usage record: UsageEvent <-> ``llmrouter.v1.UsageRecord``.

Fields with the same name on both sides are copied as they are; the list is derived from the
dataclass and the message descriptor, so a field added to both needs no code here. Every other
field is named below, once, with its conversion; tests/router_svc/test_usage_records.py fails
when a field of either side is in none of these lists.

A token count out of range (:data:`COUNTS`: below 0 or above
``llmrouter.field_limits.MAX_TOKEN_COUNT``) is refused here, before it reaches the outbox or
the ledger: the providers never report one (see ``router_svc.providers.counts``), so one here is
a bug, and a record that holds it is set apart, never stored with a made-up count.
"""

from __future__ import annotations

from dataclasses import fields
from itertools import compress
from operator import attrgetter
from typing import Any

from llmrouter.field_limits import MAX_TOKEN_COUNT
from llmrouter.v1 import metrics_service_pb2

from ..pbtime import duration_fields, timestamp_fields
from .event import UsageEvent

__all__ = ["CONVERTED", "COPIED", "COUNTS", "DERIVED", "EVENT_ONLY", "from_record", "to_record"]

_RECORD = metrics_service_pb2.UsageRecord.DESCRIPTOR

# Event field -> record field, for those stored in another form (seconds as Timestamp or
# Duration, the status string as the enum).
CONVERTED = {
    "time": "time",
    "duration_s": "duration",
    "ttft_s": "time_to_first_token",
    "status": "status",
}
# Record fields computed from other event fields.
DERIVED = frozenset({"id", "total_tokens"})
# Event fields the ledger does not keep (none today: the reason for a fallback is stored too,
# so the ledger need not guess it from the attempt before).
EVENT_ONLY: frozenset[str] = frozenset()
# Event fields copied unchanged to the record field of the same name.
COPIED = tuple(
    f.name
    for f in fields(UsageEvent)
    if f.name in _RECORD.fields_by_name and f.name not in CONVERTED
)
# Map fields among them: a record hands out a map view, the event keeps a plain dict.
_MAPS = frozenset(
    name
    for name in COPIED
    if (message := _RECORD.fields_by_name[name].message_type) is not None
    and message.GetOptions().map_entry
)

# The copied fields' values of an event, in COPIED's order (one call, not one getattr each).
_copied_values = attrgetter(*COPIED)

# The event's token counts, each at most MAX_TOKEN_COUNT (their sum, total_tokens, twice it).
COUNTS = (
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)

_STATUS = {
    "succeeded": metrics_service_pb2.USAGE_STATUS_SUCCEEDED,
    "failed": metrics_service_pb2.USAGE_STATUS_FAILED,
    "cancelled": metrics_service_pb2.USAGE_STATUS_CANCELLED,
}
_STATUS_NAMES = {number: name for name, number in _STATUS.items()}


def to_record(event: UsageEvent) -> metrics_service_pb2.UsageRecord:
    """``event`` as the record the metrics service stores. ``ValueError`` naming the field
    when a token count is not an integer from 0 to MAX_TOKEN_COUNT (and whatever protobuf
    raises for another value it cannot hold: a string that is not UTF-8, an int32 overflow)."""
    for name in COUNTS:
        value = getattr(event, name)
        if type(value) is not int or not 0 <= value <= MAX_TOKEN_COUNT:
            raise ValueError(f"{name} {value!r} is not a token count (0 to {MAX_TOKEN_COUNT})")
    # Only the copied fields that are set: one left at its default is not serialised either
    # (proto3, no field of the record has explicit presence), and each keyword costs the
    # constructor a field lookup. Built on the event loop for every attempt (in C: no Python
    # loop over the fields).
    copied = _copied_values(event)
    values: dict[str, Any] = dict(compress(zip(COPIED, copied, strict=True), copied))
    if event.ttft_s is not None:
        values["time_to_first_token"] = duration_fields(event.ttft_s)
    return metrics_service_pb2.UsageRecord(
        id=event.id,
        total_tokens=event.prompt_tokens + event.completion_tokens,
        time=timestamp_fields(event.time),
        duration=duration_fields(event.duration_s),
        status=_STATUS[event.status],
        **values,
    )


def from_record(record: metrics_service_pb2.UsageRecord) -> UsageEvent:
    """The event ``record`` was made from (event-only fields take their defaults)."""
    values: dict[str, Any] = {name: getattr(record, name) for name in COPIED}
    for name in _MAPS:
        values[name] = dict(values[name])
    return UsageEvent(
        time=record.time.ToNanoseconds() / 1e9,
        duration_s=record.duration.ToNanoseconds() / 1e9,
        ttft_s=(
            record.time_to_first_token.ToNanoseconds() / 1e9
            if record.HasField("time_to_first_token")
            else None
        ),
        status=_STATUS_NAMES[record.status],
        **values,
    )
