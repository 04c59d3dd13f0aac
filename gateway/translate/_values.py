"""JSON renderings of protobuf values shared by the translators: times, durations, numbers."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

__all__ = ["iso", "ms", "number", "time_of"]


def ms(duration: duration_pb2.Duration) -> float:
    """A Duration in milliseconds."""
    return number(duration.seconds * 1000.0 + duration.nanos / 1e6)


def number(value: float) -> float:
    """``value``, or 0 for NaN and infinities (JSON has neither; 0/0 rates read as 0)."""
    return value if math.isfinite(value) else 0.0


def time_of(message: Any, field: str) -> str | None:
    """The Timestamp ``field`` of ``message`` as ISO 8601 UTC; None when unset or unshowable."""
    if not message.HasField(field):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    try:
        return iso(stamp.ToDatetime(tzinfo=dt.UTC))
    except (ValueError, OverflowError):  # outside 0001..9999: not a time we can show
        return None


def iso(value: dt.datetime | None) -> str | None:
    """An aware datetime as ISO 8601 UTC with a ``Z``; None stays None."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
