"""Interleaved A/B of the router's own cost per request, between source trees.

For each tree (``--tree NAME=PATH``, e.g. an old commit checked out with ``git worktree add``)
this starts its own Node.js upstream (``bench/upstream.js``), metrics service and router
(``python -m router_svc`` with ``PYTHONPATH`` set to the tree, plus ``PATH/protos`` for trees
from before the shared runtime moved to ``llmrouter/``), all kept running. Then, in rounds that
alternate between the trees (A B A B ..., after a warm-up of each), it drives the router
directly over gRPC:

* ``--requests`` Complete calls at ``--concurrency`` (upstream model ``bench-0``, no delay);
* ``--streams`` StreamComplete calls at the same concurrency (64 chunks each).

and reads the router's CPU time (utime + stime of all its threads, ``/proc/<pid>/stat``)
before and after each part: CPU ms per request and per stream, plus the p50 latency as the
client saw it. Other processes share the machine, so the 1-minute load average is recorded
with each round; interleaving spreads their effect over both trees.

    .venv/bin/python bench/router_ab.py --tree old=/work/wt-old --tree new=. --rounds 6

Prints a table of mean ± stdev per tree and per measure; ``--json PATH`` writes every round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """An unused local TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def load1() -> float:
    """The 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


@dataclass
class Variant:
    """One tree's running upstream, metrics service and router."""

    name: str
    tree: Path
    router_port: int = 0
    router_pid: int = 0
    rounds: list[dict[str, float]] = field(default_factory=list)


def _config(tmp: Path, name: str, ports: dict[str, int]) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(
        f"""
[metrics]
port = {ports["metrics"]}
prometheus_port = 0
database_url = "sqlite+aiosqlite:///{tmp / name}-metrics.sqlite3"
[router]
port = {ports["router"]}
prometheus_port = 0
metrics_address = "127.0.0.1:{ports["metrics"]}"
outbox_path = "{tmp / name}-outbox.sqlite3"
state_path = "{tmp / name}-state.json"
record_usage = true
default_chain = ["fast"]
allowed_private_hosts = ["127.0.0.1"]
[[router.providers]]
name = "bench"
kind = "openai"
base_url = "http://127.0.0.1:{ports["upstream"]}/v1"
max_connections = 256
[[router.models]]
name = "fast"
provider = "bench"
upstream_model = "bench-0"
"""
    )
    return path


@contextmanager
def started(variant: Variant, tmp: Path) -> Any:
    """Start ``variant``'s three processes; stop them on exit."""
    ports = {n: free_port() for n in ("upstream", "metrics", "router")}
    config = _config(tmp, variant.name, ports)
    paths = [str(variant.tree)]
    if not (variant.tree / "llmrouter").is_dir():
        paths.append(str(variant.tree / "protos"))  # before the runtime moved to llmrouter/
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMROUTER_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join(paths)
    procs = [
        subprocess.Popen(
            ["node", str(ROOT / "bench" / "upstream.js"), str(ports["upstream"])],
            stdout=subprocess.DEVNULL,
        )
    ]
    for module in ("metrics_svc", "router_svc"):
        log = (tmp / f"{variant.name}-{module}.log").open("w")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", module, "--config", str(config)],
                env=env,
                cwd=variant.tree,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    variant.router_port = ports["router"]
    variant.router_pid = procs[-1].pid
    try:
        yield variant
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _chat() -> chat_pb2.ChatRequest:
    return chat_pb2.ChatRequest(
        model="fast",
        messages=[
            chat_pb2.Message(role=chat_pb2.ROLE_USER, content="Say hello in one short sentence.")
        ],
    )


async def _ready(stub: router_service_pb2_grpc.RouterServiceStub, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            await stub.ListModels(router_service_pb2.ListModelsRequest(), timeout=2)
            return
        except grpc.aio.AioRpcError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _drive(port: int, count: int, concurrency: int, stream: bool) -> list[float]:
    """``count`` calls at ``concurrency``; latencies in ms (a stream's: until its last chunk)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        await _ready(stub)
        complete = router_service_pb2.CompleteRequest(chat=_chat())
        streamed = router_service_pb2.StreamCompleteRequest(chat=_chat())
        remaining = count
        latencies: list[float] = []

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                if stream:
                    chunks = 0
                    async for _ in stub.StreamComplete(streamed, timeout=30):
                        chunks += 1
                    assert chunks > 64, chunks
                else:
                    reply = await stub.Complete(complete, timeout=30)
                    assert reply.message.content, reply
                latencies.append((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies


def measure(variant: Variant, args: argparse.Namespace, record: bool = True) -> None:
    """One round on ``variant``: Complete calls, then StreamComplete calls."""
    row: dict[str, float] = {"load1": load1()}
    for kind, count, stream in (
        ("complete", args.requests, False),
        ("stream", args.streams, True),
    ):
        if count <= 0:
            continue
        before = cpu_seconds(variant.router_pid)
        wall = time.perf_counter()
        latencies = asyncio.run(_drive(variant.router_port, count, args.concurrency, stream))
        wall = time.perf_counter() - wall
        used = cpu_seconds(variant.router_pid) - before
        row[f"{kind}_cpu_ms"] = used / count * 1000
        row[f"{kind}_p50_ms"] = statistics.median(latencies)
        row[f"{kind}_per_s"] = count / wall
    if record:
        variant.rounds.append(row)
        shown = "  ".join(f"{k}={v:.3f}" for k, v in row.items())
        print(f"{variant.name:>6}: {shown}", file=sys.stderr, flush=True)


def table(variants: list[Variant]) -> str:
    """Markdown: one row per measure, ``mean ± stdev (n)`` per tree."""
    keys = [k for k in variants[0].rounds[0] if k != "load1"] + ["load1"]
    lines = [
        "| measure | " + " | ".join(v.name for v in variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for key in keys:
        cells = []
        for v in variants:
            values = [r[key] for r in v.rounds]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.3f} ± {spread:.3f} ({len(values)})")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH, repeatable")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1000, help="Complete calls before rounds")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    variants = [
        Variant(name, Path(path).resolve())
        for name, path in (spec.split("=", 1) for spec in args.tree)
    ]
    with tempfile.TemporaryDirectory(prefix="router-ab-") as tmp, ExitStack() as stack:
        for variant in variants:
            stack.enter_context(started(variant, Path(tmp)))
        warm = argparse.Namespace(**vars(args) | {"requests": args.warmup, "streams": 20})
        for variant in variants:
            measure(variant, warm, record=False)
        for _ in range(args.rounds):
            for variant in variants:
                measure(variant, args)
    text = table(variants)
    print(text)
    if args.json:
        args.json.write_text(
            json.dumps({v.name: {"tree": str(v.tree), "rounds": v.rounds} for v in variants})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
