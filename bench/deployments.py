"""What deployments cost per request (README, "Deployments"), in process.

* One pick (``router_svc.routing.balance.choose``) per strategy over 2 and 4 deployments, and
  the walk a request starts on a model with deployments (``Walk`` and its first ``next``), in
  nanoseconds (best of 5 timeit rounds).
* The failover engine's CPU time per request (whole answers and 25-chunk streams from a
  zero-latency simulated provider, no gRPC, no HTTP; best of 3 rounds): a model without
  deployments against the same model with two deployments, for each strategy.

    PYTHONPATH=. python bench/deployments.py [--requests N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import timeit
from pathlib import Path
from typing import Any

from router_svc.chat import ChatRequest, Message
from router_svc.config import DeploymentConfig, ModelConfig, ProviderConfig
from router_svc.config_entries import BALANCING_STRATEGIES
from router_svc.providers.base import Provider
from router_svc.providers.simulated import SimulatedProvider
from router_svc.registry import ModelEntry, Registry
from router_svc.routing.balance import Walk, choose
from router_svc.routing.classify import Classifier
from router_svc.routing.failover import Engine
from router_svc.routing.policy import Policy

REQUEST = ChatRequest(model="m", messages=(Message("user", "hello there"),))


def providers(count: int) -> dict[str, Provider]:
    """Zero-latency simulated providers sim0, sim1..."""
    return {
        f"sim{i}": SimulatedProvider(
            ProviderConfig(name=f"sim{i}", kind="simulated", latency_ms=0, chunk_delay_ms=0)
        )
        for i in range(count)
    }


def model(deployments: int, balancing: str = "least_outstanding") -> ModelConfig:
    """Model "m" on sim0, or with ``deployments`` deployments on sim0, sim1..."""
    return ModelConfig(
        name="m",
        provider="sim0",
        input_price_per_million=1.0,
        output_price_per_million=1.0,
        balancing=balancing,
        deployments=tuple(
            DeploymentConfig(name=f"d{i}", provider=f"sim{i}") for i in range(deployments)
        ),
    )


def deployments_of(count: int, balancing: str) -> list[ModelEntry]:
    (entry,) = Registry([model(count, balancing)], providers(count)).entries()
    for i, deployment in enumerate(entry.deployments):  # measured, as after some traffic
        deployment.stats.observe(ok=True, latency_s=0.1 + 0.01 * i, now=time.time())
    return list(entry.deployments)


def pick_ns() -> dict[str, float]:
    """Nanoseconds per pick, and per walk started."""
    results: dict[str, float] = {}
    rand = random.Random(1).random
    for count in (2, 4):
        for strategy in BALANCING_STRATEGIES:
            entries = deployments_of(count, strategy)
            usable = [True] * count

            def pick(e: list[ModelEntry] = entries, u: list[bool] = usable) -> int:
                return choose(e, u, rand)

            timer = timeit.Timer(pick)
            number = 50_000
            best = min(timer.repeat(repeat=5, number=number)) / number
            results[f"pick {strategy} x{count}"] = best * 1e9
        entries = deployments_of(count, "least_outstanding")

        def walk(e: list[ModelEntry] = entries) -> None:
            Walk(e).next(2, -1, rand)

        number = 50_000
        best = min(timeit.Timer(walk).repeat(repeat=5, number=number)) / number
        results[f"walk + first pick x{count}"] = best * 1e9
    return results


async def engine_us(requests: int) -> dict[str, float]:
    """CPU microseconds per request through the engine, plain model against deployments."""
    setups: list[tuple[str, ModelConfig, int]] = [("no deployments", model(0), 1)]
    setups += [(f"2 deployments, {s}", model(2, s), 2) for s in BALANCING_STRATEGIES]
    results: dict[str, float] = {}
    for label, config, count in setups:
        policy = Policy(Registry([config], providers(count)), (), ("m",), Classifier(()))
        engine = Engine(policy, lambda _: None)

        async def complete(served: Engine = engine) -> None:
            await served.complete(REQUEST, time.monotonic() + 30)

        async def stream(served: Engine = engine) -> None:
            async for _ in served.stream(REQUEST, time.monotonic() + 30):
                pass

        for kind, one in (("complete", complete), ("stream", stream)):
            best = float("inf")
            for _ in range(3):
                started = time.process_time()
                for _ in range(requests):
                    await one()
                best = min(best, (time.process_time() - started) / requests * 1e6)
            results[f"{kind}, {label}"] = best
    return results


def main() -> None:
    """Print the figures (and write them as JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    picks = pick_ns()
    for name, ns in picks.items():
        print(f"{name}: {ns:.0f} ns")
    engine = asyncio.run(engine_us(args.requests))
    for name, us in engine.items():
        print(f"{name}: {us:.1f} CPU us/request")
    if args.json:
        document: dict[str, Any] = {"pick_ns": picks, "engine_cpu_us_per_request": engine}
        args.json.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
