"""The request log's statement as each database plans it over a ledger of 20,000 requests:
the page walks ``ix_usage_records_time`` and reads attempts through
``ix_usage_records_request``; no sequential scan of the table, even with every filter on."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from metrics_svc.records import UsageRow, UsageStatus
from metrics_svc.repository import Repository
from metrics_svc.request_log import PageToken, RequestFilter, RequestQuery, requests_statement

START = datetime(2026, 1, 1, tzinfo=UTC)
REQUESTS = 20_000

QUERIES = {
    "first page": RequestQuery(),
    "a later page": RequestQuery(after=PageToken(START + timedelta(seconds=REQUESTS // 2), "r")),
    "every filter": RequestQuery(
        start=START,
        filter=RequestFilter(
            api_key_ids=("k1",),
            models=("m2",),
            statuses=(UsageStatus.FAILED, UsageStatus.CANCELLED),
            categories=("code",),
        ),
    ),
}


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Repository]:
    repository = await Repository.create(database_url)
    rng = random.Random(1)
    rows = [
        UsageRow(
            id=f"r{i}:{a}",
            request_id=f"r{i}",
            attempt=a,
            time=START + timedelta(seconds=i, milliseconds=a),
            provider="p",
            model=rng.choice(["m1", "m2", "m3"]),
            status=rng.choice(list(UsageStatus)),
            api_key_id=rng.choice(["k1", "k2", "k3"]),
            category=rng.choice(["code", "general"]),
        )
        for i in range(REQUESTS)
        for a in range(1, rng.choice([1, 1, 2, 3]) + 1)
    ]
    for i in range(0, len(rows), 5000):
        await repository.insert_batch(rows[i : i + 5000])
    if repository.dialect == "postgresql":  # what autovacuum would have done by now
        async with repository._engine.begin() as conn:
            await conn.execute(text("ANALYZE usage_records"))
    yield repository
    await repository.close()


@pytest.mark.parametrize("name", list(QUERIES))
async def test_a_page_is_read_through_the_indexes(ledger: Repository, name: str) -> None:
    statement = requests_statement(QUERIES[name], ledger.dialect)
    sql = str(statement.compile(ledger._engine.sync_engine, compile_kwargs={"literal_binds": True}))
    async with ledger._engine.connect() as conn:
        if ledger.dialect == "sqlite":
            plan = [row[-1] for row in (await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))]
            assert "SCAN head USING INDEX ix_usage_records_time" in plan or any(
                step.startswith("SEARCH head USING INDEX ix_usage_records_time") for step in plan
            ), plan
            scans = [s for s in plan if s.startswith("SCAN") and "USING" not in s]
            assert set(scans) <= {"SCAN page", "SCAN CONSTANT ROW"}, plan
        else:
            found = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"))).scalar_one()
            shown = json.dumps(found)
            assert '"Seq Scan"' not in shown, shown
            assert "ix_usage_records_time" in shown, shown
            assert "ix_usage_records_request" in shown, shown
