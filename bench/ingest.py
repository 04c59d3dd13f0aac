"""Ingest benchmark of the metrics service: records per second through RecordUsage.

Starts the service in this process on port 0 (a temporary SQLite file unless
``--database-url`` names another ledger), sends ``--records`` usage records in batches of
``--batch`` over one gRPC channel from ``--senders`` concurrent senders, and prints the rate.
Client and server share this process, so the figure is a floor for a separate router.

    .venv/bin/python bench/ingest.py [--records 50000] [--json results.json]
    .venv/bin/python bench/ingest.py --database-url postgresql+asyncpg://user@host/scratch

A PostgreSQL ledger keeps the rows (ids are unique per run): point it at a scratch database.
Not a test: pytest does not collect it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy.engine import make_url

from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from metrics_svc.config import MetricsConfig
from metrics_svc.repository import safe_url
from metrics_svc.server import start

MODELS = [
    ("openai", "gpt-4o-mini", False),
    ("openai", "gpt-4o", False),
    ("anthropic", "claude-3-5-haiku-latest", False),
    ("ollama", "llama3.1:8b", True),
]


def requests(count: int, batch: int, run: str) -> list[pb.RecordUsageRequest]:
    """``count`` realistic records (a fifth of them fallbacks) in batches of ``batch``."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    records = []
    for i in range(count):
        provider, model, local = rng.choice(MODELS)
        attempt = 2 if i % 5 == 4 else 1
        prompt, completion = rng.randint(20, 4000), rng.randint(5, 800)
        failed = rng.random() < 0.05
        record = pb.UsageRecord(
            id=f"{run}-{i}:{attempt}",
            request_id=f"{run}-{i}",
            attempt=attempt,
            provider=provider,
            model=model,
            category=rng.choice(["chat", "code", "summarize"]),
            task_type="completion",
            source=rng.choice(["web", "cli", "ide"]),
            api_key_id=f"key-{i % 7}",
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            cost_usd=0.0 if local else (prompt * 0.15 + completion * 0.6) / 1e6,
            duration=timedelta(milliseconds=rng.randint(80, 6000)),
            time_to_first_token=timedelta(milliseconds=rng.randint(30, 900)),
            status=pb.USAGE_STATUS_FAILED if failed else pb.USAGE_STATUS_SUCCEEDED,
            error_type="RATE_LIMITED" if failed else "",
            fallback=attempt > 1,
            fallback_from="gpt-4o" if attempt > 1 else "",
            trace_id=uuid.UUID(int=rng.getrandbits(128)).hex,
            metadata={"team": rng.choice(["search", "support"])},
            local=local,
            streamed=rng.random() < 0.5,
        )
        record.time.FromDatetime(now - timedelta(seconds=count - i))
        records.append(record)
    return [pb.RecordUsageRequest(records=records[i : i + batch]) for i in range(0, count, batch)]


async def send_all(stub: Any, batches: Sequence[pb.RecordUsageRequest], senders: int) -> int:
    """Send every batch from ``senders`` concurrent tasks; the records stored."""
    queue: asyncio.Queue[pb.RecordUsageRequest] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    stored = 0

    async def sender() -> None:
        nonlocal stored
        while not queue.empty():
            response = await stub.RecordUsage(queue.get_nowait(), timeout=60)
            stored += response.inserted_count

    await asyncio.gather(*(sender() for _ in range(senders)))
    return stored


async def run(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    """Start the service, time the sends, check every record was stored."""
    batches = requests(args.records, args.batch, uuid.uuid4().hex[:8])
    config = MetricsConfig(port=0, database_url=database_url, shutdown_grace_s=5.0)
    running = await start(config)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
            await stub.RecordUsage(pb.RecordUsageRequest(), timeout=10)  # connect first
            began = time.perf_counter()
            stored = await send_all(stub, batches, args.senders)
            seconds = time.perf_counter() - began
    finally:
        await running.stop()
    if stored != args.records:
        raise SystemExit(f"ingest: only {stored} of {args.records} records were stored")
    return {
        "benchmark": "ingest",
        "database": make_url(database_url).get_backend_name(),
        "records": args.records,
        "seconds": round(seconds, 3),
        "records_per_second": round(args.records / seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the benchmark, print (and optionally save) the result."""
    parser = argparse.ArgumentParser(prog="bench/ingest.py", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="records to send")
    parser.add_argument("--batch", type=int, default=500, help="records per RecordUsage call")
    parser.add_argument("--senders", type=int, default=4, help="concurrent senders")
    parser.add_argument("--database-url", help="ledger URL (default: a temporary SQLite file)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the result here")
    args = parser.parse_args(argv)
    if args.records <= 0 or args.batch <= 0 or args.senders <= 0:
        parser.error("--records, --batch and --senders must be positive")

    with tempfile.TemporaryDirectory(prefix="llmrouter-bench-") as scratch:
        url = args.database_url or f"sqlite+aiosqlite:///{scratch}/metrics.sqlite3"
        try:
            import uvloop  # the services run on uvloop too
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            result = asyncio.run(run(args, url))
        else:
            result = uvloop.run(run(args, url))

    print(
        f"ingest: {result['records']} records in {result['seconds']:.2f} s = "
        f"{result['records_per_second']:,.0f} records/s ({safe_url(url)}, "
        f"batches of {args.batch}, {args.senders} senders)"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
