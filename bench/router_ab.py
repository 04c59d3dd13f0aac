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
before and after each part: CPU ms per request and per stream (and the kernel's share of it,
``sys``), plus the p50 latency as the client saw it. Other processes share the machine, so
the 1-minute load average is recorded with each round; interleaving spreads their effect
over all trees.

    .venv/bin/python bench/router_ab.py --tree old=/work/wt-old --tree new=. --rounds 6

Prints a table of mean ± stdev per tree and per measure; ``--json PATH`` writes every round.

CPU time on a shared machine varies by several per cent from round to round. Two deterministic
measures settle small differences: ``--callgrind DIR`` runs the routers under valgrind and
reports thousands of user-space instructions per call (``kIr``, all threads; the kernel's
work is not counted), keeping each round's dump for ``callgrind_annotate``; ``--profile DIR``
runs them under cProfile (``bench/profiled.py``) and reports Python calls per call, keeping
each round's pstats. ``bench/router_pieces.py`` splits the cost by layer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
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


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime, stime) of process ``pid`` (all threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS


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
    callgrind_out: Path | None = None
    profile_out: Path | None = None


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
def started(
    variant: Variant, tmp: Path, callgrind: Path | None = None, profile: Path | None = None
) -> Any:
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
        prefix: list[str] = []
        if callgrind and module == "router_svc":
            # Counts instructions (all threads), so two trees compare without the noise of
            # a shared machine; ~50x slower. Counting starts at the first measured round.
            variant.callgrind_out = callgrind / f"callgrind-{variant.name}"
            prefix = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={variant.callgrind_out}",
            ]
        run = ["-m", module]
        if profile and module == "router_svc":
            variant.profile_out = profile / f"profile-{variant.name}"
            run = [str(ROOT / "bench" / "profiled.py"), str(variant.profile_out), module]
        procs.append(
            subprocess.Popen(
                [*prefix, sys.executable, *run, "--config", str(config)],
                env=env,
                cwd=variant.tree,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    variant.router_port = ports["router"]
    variant.router_pid = procs[-1].pid
    try:
        asyncio.run(_connect(variant.router_port))  # before any signal reaches it
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


async def _ready(stub: router_service_pb2_grpc.RouterServiceStub, within_s: float = 300) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            await stub.ListModels(router_service_pb2.ListModelsRequest(), timeout=2)
            return
        except grpc.aio.AioRpcError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _connect(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await _ready(router_service_pb2_grpc.RouterServiceStub(channel))


async def _drive(port: int, count: int, concurrency: int, stream: bool) -> list[float]:
    """``count`` calls at ``concurrency``; latencies in ms (a stream's: until its last chunk)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
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


def _callgrind(variant: Variant, command: str) -> int:
    """Run ``callgrind_control <command>`` on the router; after a dump, its total Ir."""
    subprocess.run(
        ["callgrind_control", command, str(variant.router_pid)],
        check=True,
        capture_output=True,
    )
    if command != "--dump":
        return 0
    assert variant.callgrind_out is not None
    dumps = variant.callgrind_out.parent.glob(variant.callgrind_out.name + "*")
    newest = max(dumps, key=lambda p: p.stat().st_mtime_ns)
    for line in newest.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {newest}")


def _profile(variant: Variant, name: str) -> int:
    """Stop the router's profiler; its stats go to ``profile-<tree>-<name>``; the number of
    Python-level calls profiled."""
    assert variant.profile_out is not None
    done = Path(str(variant.profile_out) + ".done")
    done.unlink(missing_ok=True)
    os.kill(variant.router_pid, signal.SIGUSR2)
    while not done.exists():
        time.sleep(0.05)
    kept = variant.profile_out.with_name(f"{variant.profile_out.name}-{name}")
    variant.profile_out.rename(kept)
    stats = pstats.Stats(str(kept))
    return int(stats.total_calls)  # type: ignore[attr-defined]


def measure(variant: Variant, args: argparse.Namespace, record: bool = True) -> None:
    """One round on ``variant``: Complete calls, then StreamComplete calls."""
    row: dict[str, float] = {"load1": load1()}
    for kind, count, stream in (
        ("complete", args.requests, False),
        ("stream", args.streams, True),
    ):
        if count <= 0:
            continue
        if variant.callgrind_out:
            _callgrind(variant, "--instr=on")
            _callgrind(variant, "--zero")
        if variant.profile_out:
            os.kill(variant.router_pid, signal.SIGUSR1)
        before = cpu_seconds(variant.router_pid)
        wall = time.perf_counter()
        latencies = asyncio.run(_drive(variant.router_port, count, args.concurrency, stream))
        wall = time.perf_counter() - wall
        after = cpu_seconds(variant.router_pid)
        if variant.callgrind_out:
            row[f"{kind}_kIr"] = _callgrind(variant, "--dump") / count / 1000
        if variant.profile_out:
            name = f"{kind}-{len(variant.rounds) if record else 'warmup'}"
            row[f"{kind}_pycalls"] = _profile(variant, name) / count
        user, system = after[0] - before[0], after[1] - before[1]
        row[f"{kind}_cpu_ms"] = (user + system) / count * 1000
        row[f"{kind}_sys_ms"] = system / count * 1000
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
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the routers under cProfile per round; keep the stats in this directory",
    )
    parser.add_argument(
        "--callgrind",
        type=Path,
        help="run the routers under valgrind, report instructions (kIr) per call and keep "
        "each round's callgrind dump in this directory",
    )
    args = parser.parse_args()
    for keep in (args.profile, args.callgrind):
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
    variants = [
        Variant(name, Path(path).resolve())
        for name, path in (spec.split("=", 1) for spec in args.tree)
    ]
    with tempfile.TemporaryDirectory(prefix="router-ab-") as tmp, ExitStack() as stack:
        for variant in variants:
            stack.enter_context(started(variant, Path(tmp), args.callgrind, args.profile))
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
