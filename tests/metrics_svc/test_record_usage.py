"""RecordUsage through a real gRPC server into a real ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import metrics_service_pb2 as pb
from metrics_svc.records import UsageRow, UsageStatus

from .conftest import NOW, Metrics

MakeRecord = Callable[..., pb.UsageRecord]


async def test_inserts_a_batch_and_reports_the_count(
    metrics: Metrics, make_record: MakeRecord
) -> None:
    response = await metrics.record(make_record("a:1"), make_record("b:1"), make_record("c:1"))

    assert (response.inserted_count, response.duplicate_count) == (3, 0)
    assert (await metrics.query()).totals.requests == 3


async def test_replayed_ids_are_counted_as_duplicates_and_not_stored_twice(
    metrics: Metrics, make_record: MakeRecord
) -> None:
    first = [make_record(f"r{i}:1", cost_usd=0.01 * (i + 1)) for i in range(3)]
    await metrics.record(*first)

    # A client retrying after a lost response resends the batch, plus one new record.
    replay = await metrics.record(*first, make_record("r3:1", cost_usd=0.5))

    assert (replay.inserted_count, replay.duplicate_count) == (1, 3)
    totals = (await metrics.query()).totals
    assert totals.requests == 4
    assert totals.cost_usd == pytest.approx(0.01 + 0.02 + 0.03 + 0.5)


async def test_a_replay_does_not_overwrite_the_stored_record(
    metrics: Metrics, make_record: MakeRecord
) -> None:
    await metrics.record(make_record("a:1", cost_usd=0.25))

    replay = await metrics.record(make_record("a:1", cost_usd=99.0))

    assert (replay.inserted_count, replay.duplicate_count) == (0, 1)
    assert (await metrics.query()).totals.cost_usd == pytest.approx(0.25)


async def test_an_id_repeated_within_one_batch_is_stored_once(
    metrics: Metrics, make_record: MakeRecord
) -> None:
    response = await metrics.record(make_record("a:1"), make_record("a:1"), make_record("b:1"))

    assert (response.inserted_count, response.duplicate_count) == (2, 1)
    assert (await metrics.query()).totals.requests == 2


async def test_an_empty_batch_is_accepted(metrics: Metrics) -> None:
    response = await metrics.record()

    assert (response.inserted_count, response.duplicate_count) == (0, 0)


def _rich_error(error: grpc.aio.AioRpcError) -> tuple[Any, Any]:
    """The ErrorInfo and BadRequest details of a failed call."""
    status = rpc_status.to_status  # keep import used for readers: details travel as Status
    del status
    info = error_details_pb2.ErrorInfo()
    bad_request = error_details_pb2.BadRequest()
    found = set()
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        from google.rpc import status_pb2

        rich = status_pb2.Status.FromString(value)
        assert rich.code == error.code().value[0]
        assert rich.message == error.details()
        for detail in rich.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                detail.Unpack(info)
                found.add("info")
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                detail.Unpack(bad_request)
                found.add("bad_request")
    assert found == {"info", "bad_request"}, "expected ErrorInfo and BadRequest details"
    return info, bad_request
