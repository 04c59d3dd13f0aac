"""A focused benchmark of the router alone: what one gRPC answer costs it.

Starts the Node.js bench upstream (0 ms model), a metrics service and a router as real
processes, then drives the router directly over gRPC (Complete, and StreamComplete of 64
chunks) in closed loops at concurrency 1 and 16, in interleaved rounds. Reports per variant:
latency p50/p99 (client-side, last byte), requests per second, and the router's CPU seconds
per 1,000 answers. Variants are code trees and router config lines, so one run compares a
build before a change with the build after it, back to back on the same machine.

    python bench/router_direct.py --variant main=/tmp/base: \\
        --variant durable=.:outbox_durable_timeout_ms=500 --json out.json

Each ``--variant`` is ``name=code_root:extra_router_toml_line;another``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Variant:
    name: str
    root: Path
    router_lines: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Variant:
        name, _, rest = text.partition("=")
        root, _, lines = rest.partition(":")
        return cls(name, Path(root).resolve(), tuple(x for x in lines.split(";") if x))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running(variant: Variant, workdir: Path, upstream_port: int):  # type: ignore[no-untyped-def]
    """Metrics + router of ``variant``; yields (router port, router pid)."""
    ports = {"router": free_port(), "metrics": free_port()}
    config = workdir / f"{variant.name}.toml"
    extra = "\n".join(variant.router_lines)
    config.write_text(
        f"""[metrics]
port = {ports["metrics"]}
prometheus_port = 0
database_url = "sqlite+aiosqlite:///{workdir / variant.name}-metrics.sqlite3"
[router]
port = {ports["router"]}
prometheus_port = 0
metrics_address = "127.0.0.1:{ports["metrics"]}"
outbox_path = "{workdir / variant.name}-outbox.sqlite3"
state_path = "{workdir / variant.name}-state.json"
default_chain = ["fast"]
allowed_private_hosts = ["127.0.0.1"]
{extra}
[[router.providers]]
name = "bench"
kind = "openai"
base_url = "http://127.0.0.1:{upstream_port}/v1"
max_connections = 256
[[router.models]]
name = "fast"
provider = "bench"
upstream_model = "bench-0"
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMROUTER_", "OTEL_"))}
    env["PYTHONPATH"] = str(variant.root)
    procs = []
    try:
        for module in ("metrics_svc", "router_svc"):
            log = (workdir / f"{variant.name}-{module}.log").open("w")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", module, "--config", str(config)],
                    env=env,
                    cwd=variant.root,
                    stderr=log,
                )
            )
        router_log = workdir / f"{variant.name}-router_svc.log"
        deadline = time.monotonic() + 30
        while "listening on" not in router_log.read_text():
            if time.monotonic() > deadline or procs[-1].poll() is not None:
                raise RuntimeError(router_log.read_text())
            time.sleep(0.05)
        yield ports["router"], procs[-1].pid
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)


def chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model="fast",
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="Say hello.")],
    )


async def load(port: int, streamed: bool, concurrency: int, seconds: float) -> list[float]:
    """Closed loop for ``seconds``: every answer's latency (to its last byte), in ms."""
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        complete = router_service_pb2.CompleteRequest(chat=chat())
        stream = router_service_pb2.StreamCompleteRequest(chat=chat())
        stop = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < stop:
                began = time.perf_counter()
                if streamed:
                    async for _ in stub.StreamComplete(stream, timeout=30):
                        pass
                else:
                    await stub.Complete(complete, timeout=30)
                latencies.append((time.perf_counter() - began) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", type=Variant.parse, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    shapes = [(s, c) for s in (False, True) for c in (1, 16)]
    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        v.name: {f"{'stream' if s else 'complete'}_c{c}": [] for s, c in shapes}
        for v in args.variant
    }
    upstream_port = free_port()
    upstream = subprocess.Popen(
        ["node", str(ROOT / "bench" / "upstream.js"), str(upstream_port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.rounds):
                for variant in args.variant:  # interleaved: machine noise spreads evenly
                    with running(variant, Path(tmp), upstream_port) as (port, pid):
                        asyncio.run(load(port, False, 4, 1.0))  # warm-up
                        for streamed, conc in shapes:
                            before = cpu_seconds(pid)
                            lat = asyncio.run(load(port, streamed, conc, args.seconds))
                            used = cpu_seconds(pid) - before
                            key = f"{'stream' if streamed else 'complete'}_c{conc}"
                            samples[variant.name][key].append(
                                {
                                    "p50_ms": percentile(lat, 0.5),
                                    "p99_ms": percentile(lat, 0.99),
                                    "rps": len(lat) / args.seconds,
                                    "cpu_ms_per_answer": used / len(lat) * 1000,
                                }
                            )
                            print(variant.name, key, samples[variant.name][key][-1], flush=True)
    finally:
        upstream.send_signal(signal.SIGTERM)
        upstream.wait(timeout=10)
    summary: dict[str, Any] = {
        name: {
            shape: {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
            for shape, runs in by_shape.items()
        }
        for name, by_shape in samples.items()
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"medians": summary, "rounds": samples}, indent=1))


if __name__ == "__main__":
    main()
