"""How fast the dashboard loads over a large ledger: a measurement, not a test.

``python -m tests.dashboard.load_time [--rows 100000] [--spread-days 14] [--loads 7]
[--database-url URL]`` starts the real stack (metrics on a new SQLite file or the given database,
router, gateway) as processes, stores ``--rows`` usage records
spread over the last ``--spread-days`` days through RecordUsage, then opens the dashboard in
headless Chromium ``--loads`` times and prints, as JSON, the time from navigation to the first
full render (the page's ``dashboard-ready`` performance mark) and the time of
``GET /v1/dashboard/summary`` alone.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import httpx
from google.protobuf import duration_pb2, timestamp_pb2
from playwright.sync_api import sync_playwright

from llmrouter.v1 import metrics_service_pb2 as pb
from llmrouter.v1 import metrics_service_pb2_grpc
from tests.dashboard.conftest import CHROMIUM_ARGS, chromium_path
from tests.integration.conftest import run_stack, write_config

KEY = "sk-load-time-0123456789"
MODELS = [
    ("gpt-4o", "openai", 2.5, 10.0),
    ("gpt-4o-mini", "openai", 0.15, 0.6),
    ("claude-sonnet-4-0", "anthropic", 3.0, 15.0),
    ("sim-small", "simulated", 0.0, 0.0),
    ("sim-large", "simulated", 0.0, 0.0),
]
ERRORS = ["RATE_LIMITED", "UPSTREAM_UNAVAILABLE", "UPSTREAM_TIMEOUT"]
CATEGORIES = ["code", "reasoning", "conversation", "tools"]


def records(count: int, spread_s: float, seed: int = 7) -> list[pb.UsageRecord]:
    """``count`` plausible attempts: one request in ten falls back once."""
    rng = random.Random(seed)
    now = time.time()
    out: list[pb.UsageRecord] = []
    n = 0
    while len(out) < count:
        n += 1
        at = now - rng.random() * spread_s
        fallback = rng.random() < 0.1
        chain = rng.sample(MODELS, 2) if fallback else [rng.choice(MODELS)]
        trace = f"{rng.getrandbits(128):032x}"
        for attempt, (model, provider, inp, outp) in enumerate(chain, start=1):
            failed = attempt < len(chain)
            prompt = 0 if failed else rng.randint(20, 2000)
            completion = 0 if failed else rng.randint(5, 800)
            stamp = timestamp_pb2.Timestamp()
            stamp.FromNanoseconds(int((at + attempt * 0.2) * 1e9))
            out.append(
                pb.UsageRecord(
                    id=f"load-{n}:{attempt}",
                    request_id=f"load-{n}",
                    attempt=attempt,
                    time=stamp,
                    provider=provider,
                    model=model,
                    category=rng.choice(CATEGORIES),
                    source="load-time",
                    api_key_id="load",
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    total_tokens=prompt + completion,
                    cost_usd=(prompt * inp + completion * outp) / 1e6,
                    duration=duration_pb2.Duration(nanos=rng.randint(50, 900) * 1_000_000),
                    status=pb.USAGE_STATUS_FAILED if failed else pb.USAGE_STATUS_SUCCEEDED,
                    error_type=rng.choice(ERRORS) if failed else "",
                    fallback=attempt > 1,
                    fallback_from=chain[attempt - 2][0] if attempt > 1 else "",
                    trace_id=trace,
                    local=provider == "simulated",
                )
            )
    return out[:count]


def seed(metrics_port: int, rows: Sequence[pb.UsageRecord], batch: int = 1000) -> float:
    """Store ``rows`` through RecordUsage; the seconds it took."""
    started = time.perf_counter()
    with grpc.insecure_channel(f"127.0.0.1:{metrics_port}") as channel:
        stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
        for i in range(0, len(rows), batch):
            reply = stub.RecordUsage(pb.RecordUsageRequest(records=rows[i : i + batch]), timeout=60)
            assert reply.inserted_count + reply.duplicate_count == len(rows[i : i + batch])
    return time.perf_counter() - started


def measure(url: str, loads: int) -> dict[str, Any]:
    """Page loads (navigation to first full render) and summary calls, in milliseconds.

    The first load is cold: nothing cached in the browser or the gateway (the 13-day query
    runs). The others are what an operator sees on reloading within a minute.
    """
    browser_path = chromium_path()
    if browser_path is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    page_ms = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        context.add_init_script(f"sessionStorage.setItem('llmrouter.apiKey', {json.dumps(KEY)})")
        page = context.new_page()
        for _ in range(loads + 1):
            page.goto(f"{url}/dashboard", wait_until="commit")
            page.wait_for_selector("body[data-state=ready]", timeout=60_000)
            mark = page.evaluate("performance.getEntriesByName('dashboard-ready')[0].startTime")
            page_ms.append(float(mark))
        browser.close()
    api_ms = []
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY}"}) as http:
        for _ in range(loads):
            started = time.perf_counter()
            http.get("/v1/dashboard/summary", timeout=60).raise_for_status()
            api_ms.append((time.perf_counter() - started) * 1000)
    warm = page_ms[1:]
    return {
        "first_page_load_ms": round(page_ms[0]),
        "page_load_ms": {"median": round(statistics.median(warm)), "max": round(max(warm))},
        "summary_api_ms": {"median": round(statistics.median(api_ms)), "max": round(max(api_ms))},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--spread-days", type=float, default=14.0)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument(
        "--database-url", default="", help="metrics database (default: a new SQLite file)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        stack = write_config(Path(folder))
        env = {"LLMROUTER_GATEWAY_ADMIN_API_KEYS": f"load:{KEY}"}
        if args.database_url:
            env["LLMROUTER_METRICS_DATABASE_URL"] = args.database_url
        running = run_stack(stack, env)
        next(running)
        try:
            rows = records(args.rows, args.spread_days * 86400)
            seconds = seed(stack.metrics, rows)
            result = {
                "rows": args.rows,
                "spread_days": args.spread_days,
                "database": args.database_url.split(":")[0] if args.database_url else "sqlite",
                "seed_s": round(seconds, 1),
                **measure(stack.url, args.loads),
            }
        finally:
            next(running, None)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
