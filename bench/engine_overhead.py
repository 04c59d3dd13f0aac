"""The failover engine's own cost per request, in process: whole answers and 25-chunk streams
from a zero-latency simulated provider (no gRPC, no HTTP), in CPU microseconds per request
(best of 3 rounds), and the asyncio tasks the engine creates per request.

    PYTHONPATH=. python bench/engine_overhead.py [--requests N] [--hedge-after-s S]

With hedging off (the default) the engine creates no task per request; with
``--hedge-after-s 10`` (a hedge timer that never fires) it creates two (the attempt and the
timer).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Coroutine, Generator
from typing import Any

from router_svc.chat import ChatRequest, Message
from router_svc.config import ModelConfig, ProviderConfig
from router_svc.policies import RetryPolicy
from router_svc.providers.simulated import SimulatedProvider
from router_svc.registry import Registry
from router_svc.routing.classify import Classifier
from router_svc.routing.failover import Engine
from router_svc.routing.policy import Policy

REQUEST = ChatRequest(model="auto", messages=(Message("user", "hello there"),))


def engine(hedge_after_s: float) -> Engine:
    """Two simulated models answering at once."""
    provider = SimulatedProvider(
        ProviderConfig(name="sim", kind="simulated", latency_ms=0, chunk_delay_ms=0)
    )
    models = tuple(
        ModelConfig(
            name=name, provider="sim", input_price_per_million=1.0, output_price_per_million=1.0
        )
        for name in "ab"
    )
    policy = Policy(Registry(models, {"sim": provider}), (), ("a", "b"), Classifier(()))
    # Passed only when set, so the same script measures a router from before hedging.
    hedging: dict[str, Any] = {"hedge_after_s": hedge_after_s} if hedge_after_s else {}
    retry = RetryPolicy(**hedging)
    return Engine(policy, lambda _: None, retry=retry)


async def measure(requests: int, hedge_after_s: float) -> dict[str, tuple[float, float]]:
    """(CPU µs per request, tasks per request) for whole answers and streams."""
    created = 0

    def count(
        loop: asyncio.AbstractEventLoop,
        coro: Generator[Any, None, Any] | Coroutine[Any, Any, Any],
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    asyncio.get_running_loop().set_task_factory(count)
    served = engine(hedge_after_s)

    async def complete() -> None:
        await served.complete(REQUEST, time.monotonic() + 30)

    async def stream() -> None:
        async for _ in served.stream(REQUEST, time.monotonic() + 30):
            pass

    results: dict[str, tuple[float, float]] = {}
    for name, one in (("complete", complete), ("stream", stream)):
        created, best = 0, float("inf")
        for _ in range(3):
            started = time.process_time()
            for _ in range(requests):
                await one()
            best = min(best, (time.process_time() - started) / requests * 1e6)
        results[name] = (best, created / (3 * requests))
    return results


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--hedge-after-s", type=float, default=0.0)
    args = parser.parse_args()
    for name, (cpu_us, tasks) in asyncio.run(measure(args.requests, args.hedge_after_s)).items():
        print(f"{name}: {cpu_us:.1f} CPU us/request, {tasks:.2f} tasks/request")


if __name__ == "__main__":
    main()
