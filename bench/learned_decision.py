"""What a routing decision costs with quality-bounded routing (README "Learned routing").

Starts the router in-process (``router_svc.server.start``: simulated provider with no latency,
usage to a local outbox nobody ships) with a two-model category and ``sim-embed``, and
measures ``Policy.decide`` per call (CPU microseconds, min of 5 batches; wall time for the
embed call, which runs through the embeddings engine):

* ``no_bound``: no min_quality: the chain as before (must not embed or estimate anything;
  the embed calls made are counted to show it);
* ``bound_prior``: min_quality with no predictor: the configured quality decides;
* ``bound_knn_small`` / ``bound_knn_20k``: min_quality with the predictor: one embed call on
  ``sim-embed`` (256 dimensions) plus the kNN over 16 labelled points per model, then over
  20,000 points per model;
* ``embed_only`` and ``predict_20k``: the two parts of the last alone.

    PYTHONPATH=. .venv/bin/python bench/learned_decision.py [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

# isort: off
import router_svc  # noqa: F401 - first: one OpenBLAS thread, as in the router process
import numpy as np

# isort: on

from llmrouter.learned.hashing import hashed_embedding
from router_svc.chat import ChatRequest, Message
from router_svc.config import CategoryConfig, ModelConfig, ProviderConfig, RouterConfig
from router_svc.learned.config import LearnedConfig
from router_svc.server import start

ASK = "Translate into French: my brother plays the guitar at night"


def config(tmp: Path, learned: LearnedConfig) -> RouterConfig:
    sim = ProviderConfig(name="sim", kind="simulated", latency_ms=0.0)
    models = (
        ModelConfig("cheap", "sim", input_price_per_million=0.1, output_price_per_million=0.4),
        ModelConfig("strong", "sim", input_price_per_million=5, output_price_per_million=20),
        ModelConfig(
            "sim-embed",
            "sim",
            input_price_per_million=0.0,
            output_price_per_million=0.0,
            embedding=True,
            dimensions=256,
        ),
    )
    return replace(
        RouterConfig(),
        port=0,
        prometheus_port=0,
        metrics_address="127.0.0.1:9",
        outbox_path=str(tmp / "outbox.sqlite3"),
        state_path=str(tmp / "state.json"),
        providers=(sim,),
        models=models,
        default_chain=("strong", "cheap"),
        categories=(CategoryConfig("general", ("strong", "cheap")),),
        learned=learned,
        record_usage=False,
    )


async def per_call(fn: Callable[[], Awaitable[Any]], count: int) -> tuple[float, float]:
    """(CPU us, wall us) per call: the min over 5 batches of ``count``."""
    best_cpu = best_wall = float("inf")
    for _ in range(5):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            await fn()
        best_cpu = min(best_cpu, (time.process_time() - cpu) / count * 1e6)
        best_wall = min(best_wall, (time.perf_counter() - wall) / count * 1e6)
    return best_cpu, best_wall


async def main(count: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    request = ChatRequest(model="general", messages=(Message("user", ASK),))
    bounded = replace(request, min_quality=0.7)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        plain = await start(config(tmp / "plain", LearnedConfig()))
        learned = await start(config(tmp / "learned", LearnedConfig(embedding_model="sim-embed")))
        try:
            policy = plain.engine._policy  # the bench measures the part itself
            smart = learned.engine._policy
            predictor = learned.predictor
            assert predictor is not None
            embedder = predictor.embedder
            assert embedder is not None
            calls = [0]

            async def counted(*args: Any) -> Any:
                calls[0] += 1
                return await embedder(*args)

            predictor.attach(counted)
            rng = np.random.default_rng(7)
            for model in ("cheap", "strong"):
                for i in range(16):
                    vector = hashed_embedding(f"{ASK} {i}", 256, seed="sim-embed")
                    predictor.learn(model, vector, 0.8)
            for name, fn in (
                ("no_bound", lambda: policy.decide(request)),
                ("no_bound_learned_router", lambda: smart.decide(request)),
                ("bound_prior", lambda: policy.decide(bounded)),
                ("bound_knn_small", lambda: smart.decide(bounded)),
            ):
                before = calls[0]
                cpu, wall = await per_call(fn, count)
                results[name] = {
                    "cpu_us": round(cpu, 1),
                    "wall_us": round(wall, 1),
                    "embed_calls_per_decision": (calls[0] - before) / (5 * count),
                }
            for model in ("cheap", "strong"):
                for _ in range(20_000 - 16):
                    predictor.learn(model, rng.standard_normal(256).astype(np.float32), 0.5)
            cpu, wall = await per_call(lambda: smart.decide(bounded), count)
            results["bound_knn_20k"] = {"cpu_us": round(cpu, 1), "wall_us": round(wall, 1)}
            cpu, wall = await per_call(lambda: predictor.embed_prompt(bounded), count)
            results["embed_only"] = {"cpu_us": round(cpu, 1), "wall_us": round(wall, 1)}
            vector = hashed_embedding(ASK, 256, seed="sim-embed")

            async def predict() -> None:
                predictor.predict(vector, ("cheap", "strong"), {"cheap": 0.5, "strong": 0.5})

            cpu, wall = await per_call(predict, count)
            results["predict_20k"] = {"cpu_us": round(cpu, 1), "wall_us": round(wall, 1)}
        finally:
            await plain.stop(grace=0)
            await learned.stop(grace=0)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    json.dump(asyncio.run(main(args.count)), sys.stdout, indent=2)
    print()
