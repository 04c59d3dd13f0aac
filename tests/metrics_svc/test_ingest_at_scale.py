"""Idempotent ingest at scale: 10,000 records sent over gRPC in batches of 500, a fifth of them
sent again in later batches (as an outbox does after a lost response), by concurrent senders,
end up as exactly 10,000 rows with the sums of what was sent.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from llmrouter.v1 import metrics_service_pb2 as pb

from .support import NOW, Metrics, usage_record

RECORDS = 10_000
BATCH = 500
REPLAYED = RECORDS // 5
SENDERS = 4


async def test_replays_in_later_batches_are_stored_once(metrics: Metrics) -> None:
    rng = random.Random(2024)
    records = [
        usage_record(
            f"bulk{i}:1",
            time=NOW - timedelta(seconds=i + 1),
            provider=rng.choice(["openai", "anthropic", "ollama"]),
            prompt_tokens=rng.randint(0, 5_000),
            completion_tokens=rng.randint(0, 1_000),
            cost_usd=rng.randint(0, 10_000) / 1e6,
            duration_ms=rng.randint(10, 5_000),
        )
        for i in range(RECORDS)
    ]
    fresh = [records[i : i + BATCH] for i in range(0, RECORDS, BATCH)]
    # Each replayed record goes into a batch after the one that first carried it.
    batches: list[list[pb.UsageRecord]] = [list(b) for b in fresh]
    replayed = rng.sample(range(RECORDS), REPLAYED)
    for index in replayed:
        later = rng.randrange(index // BATCH + 1, len(batches) + 1)
        if later == len(batches):
            batches.append([])
        batches[later].append(records[index])
    # Sent in batches of at most BATCH, as the router's outbox would.
    sends = [b[i : i + BATCH] for b in batches for i in range(0, len(b), BATCH)]
    assert len(sends) > RECORDS // BATCH

    queue: asyncio.Queue[list[pb.UsageRecord]] = asyncio.Queue()
    for batch in sends:
        queue.put_nowait(batch)
    inserted = duplicates = 0

    async def sender() -> None:
        nonlocal inserted, duplicates
        while not queue.empty():
            response = await metrics.record(*queue.get_nowait())
            inserted += response.inserted_count
            duplicates += response.duplicate_count

    await asyncio.gather(*(sender() for _ in range(SENDERS)))

    assert (inserted, duplicates) == (RECORDS, REPLAYED)
    totals = (await metrics.query()).totals
    assert totals.requests == RECORDS
    assert totals.prompt_tokens == sum(r.prompt_tokens for r in records)
    assert totals.completion_tokens == sum(r.completion_tokens for r in records)
    assert totals.cost_usd == pytest.approx(sum(r.cost_usd for r in records))
    by_provider = await metrics.query(group_by=[pb.DIMENSION_PROVIDER])
    for group in by_provider.groups:
        mine = [r for r in records if r.provider == group.provider]
        assert group.summary.requests == len(mine)
        assert group.summary.cost_usd == pytest.approx(sum(r.cost_usd for r in mine))
