"""Seconds as protobuf ``Timestamp`` / ``Duration`` (shared by the servicer and the outbox)."""

from __future__ import annotations

from google.protobuf import duration_pb2, timestamp_pb2

__all__ = ["duration", "timestamp"]


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    """Epoch seconds as a Timestamp."""
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def duration(seconds: float) -> duration_pb2.Duration:
    """Seconds as a Duration."""
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d
