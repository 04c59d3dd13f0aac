"""The cost of one rate-limit decision (``llmrouter.rate_limits``), per backend.

For each case, in one process under uvloop (as the services run): ``--ops`` decisions one
after another (wall and CPU microseconds per decision: the latency a request waits, and what
one request alone costs the process), then the same number ``--concurrency`` at a time (CPU
microseconds per decision, ``time.process_time``, kernel included: what it takes from the
process's throughput under load, where Redis round trips are shared), best of ``--repeat``
batches; with the Redis round trips per decision. Limits are high enough never to refuse, so
every decision checks and counts, and returns the windows its x-ratelimit headers show.

* ``embedded``: limits' memory storage, one charge (requests per minute);
* ``redis 1 charge`` / ``redis 2 charges``: the machine's Redis (``--redis``), one script call
  per request (requests; requests and tokens, as a key with rpm and tpm);
* ``embedded leased`` / ``redis leased 2 charges``: the same with quota leases of 1 % of each
  limit (``llmrouter.rate_leases``, the gateway's default): most decisions spend a lease in
  process;
* ``limits hit``: the same charge through limits' own Redis strategy (``hit`` then
  ``get_window_stats`` for the headers: two round trips), for comparison;
* ``redis away``: Redis not listening, so every decision is this replica's share, after
  one failed connection (what a request costs during an outage).

    PYTHONPATH=. .venv/bin/python bench/rate_limits.py --json bench/results/rate-limits.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

from llmrouter.rate_counters import RedisCounters
from llmrouter.rate_limits import Charge, Quota, RateLimiter
from llmrouter.shared_state import StateConfig

HIGH = 1_000_000_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _measure(
    run: Callable[[int], Awaitable[object]],
    ops: int,
    concurrency: int,
    repeat: int,
    trips: Callable[[], int],
) -> dict[str, float]:
    """Best of ``repeat``: wall and CPU µs per op one at a time, CPU µs per op
    ``concurrency`` at a time (and round trips per op there)."""
    await asyncio.gather(*(run(i) for i in range(min(ops, 200))))  # warm: connections, scripts
    wall, cpu, cpu_loaded, trips_loaded = [], [], [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        for i in range(ops):
            await run(i)
        wall.append((time.perf_counter() - started) / ops * 1e6)
        cpu.append((time.process_time() - started_cpu) / ops * 1e6)
        started_cpu, before = time.process_time(), trips()
        for start in range(0, ops, concurrency):
            await asyncio.gather(*(run(i) for i in range(start, min(start + concurrency, ops))))
        cpu_loaded.append((time.process_time() - started_cpu) / ops * 1e6)
        trips_loaded.append((trips() - before) / ops)
    return {
        "wall_us": round(min(wall), 1),
        "cpu_us": round(min(cpu), 1),
        f"cpu_us_at_{concurrency}": round(min(cpu_loaded), 1),
        f"round_trips_at_{concurrency}": round(min(trips_loaded), 3),
    }


async def main(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    import redis.asyncio as redis_asyncio

    probe = redis_asyncio.Redis.from_url(args.redis, socket_connect_timeout=1)
    try:
        await probe.ping()
    except Exception as exc:  # a Redis case would silently measure the outage share
        raise SystemExit(f"bench/rate_limits.py: no Redis at {args.redis} ({exc})") from None
    finally:
        await probe.aclose()
    prefix = f"llmrouter-bench:{uuid.uuid4().hex}:"
    redis = StateConfig(backend="redis", redis_url=args.redis, key_prefix=prefix)
    away = StateConfig(
        backend="redis", redis_url=f"redis://127.0.0.1:{_free_port()}/0", key_prefix=prefix
    )
    requests = Quota("requests", HIGH)
    tokens = Quota("tokens", HIGH)
    keys = [("key", f"k{n}") for n in range(64)]  # a few keys, as a gateway serves

    def one(i: int) -> list[Charge]:
        return [Charge(keys[i % 64], requests, 1)]

    def two(i: int) -> list[Charge]:
        return [Charge(keys[i % 64], requests, 1), Charge(keys[i % 64], tokens, 300)]

    results: dict[str, dict[str, float]] = {}
    cases: list[tuple[str, StateConfig, Callable[[int], list[Charge]], float]] = [
        ("embedded", StateConfig(), one, 0),
        ("embedded leased", StateConfig(), one, 1),
        ("redis 1 charge", redis, one, 0),
        ("redis 2 charges", redis, two, 0),
        ("redis leased 2 charges", redis, two, 1),
        ("redis away", away, one, 0),
    ]
    for name, state, charges, lease_percent in cases:
        limiter = RateLimiter(state, lease_percent=lease_percent)
        counters = limiter._shared

        def trips(counters: object = counters) -> int:
            return counters.round_trips if isinstance(counters, RedisCounters) else 0

        async def run(
            i: int,
            limiter: RateLimiter = limiter,
            charges: Callable[[int], list[Charge]] = charges,
        ) -> object:
            return await limiter.acquire(charges(i))

        results[name] = await _measure(run, args.ops, args.concurrency, args.repeat, trips)
        print(f"{name:24} {results[name]}", file=sys.stderr)
        await limiter.close()
    results["limits hit"] = await _limits_hit(args, prefix)
    print(f"{'limits hit':24} {results['limits hit']}", file=sys.stderr)
    return results


async def _limits_hit(args: argparse.Namespace, prefix: str) -> dict[str, float]:
    """limits' own Redis strategy: ``hit``, then ``get_window_stats`` for the headers."""
    import redis.asyncio as redis_asyncio
    from limits import RateLimitItemPerSecond
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import SlidingWindowCounterRateLimiter

    pool = redis_asyncio.BlockingConnectionPool.from_url(args.redis, max_connections=32)
    client = redis_asyncio.Redis(connection_pool=pool)
    options: dict[str, Any] = {"connection_pool": pool}
    storage = RedisStorage(
        "async+" + args.redis, implementation="redispy", key_prefix=prefix, **options
    )
    strategy = SlidingWindowCounterRateLimiter(storage)
    item = RateLimitItemPerSecond(HIGH, 60)
    calls = [0]

    async def run(i: int) -> object:
        calls[0] += 2
        await strategy.hit(item, "key", f"k{i % 64}")
        return await strategy.get_window_stats(item, "key", f"k{i % 64}")

    measured = await _measure(run, args.ops, args.concurrency, args.repeat, lambda: calls[0])
    await client.aclose(close_connection_pool=True)
    return measured


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    measured = uvloop.run(main(arguments))
    if arguments.json:
        arguments.json.write_text(json.dumps(measured, indent=2) + "\n")
