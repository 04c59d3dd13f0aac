"""``make bench``: the performance budget, measured on this machine, everything co-located.

Starts a Node.js OpenAI-compatible upstream (0 ms and 20 ms models, 64-chunk streams), the
three services as real processes, and drives them with wrk (closed loop) and an asyncio
streaming client. Reports, side by side:

* overhead = latency through the gateway - latency direct to the upstream, p50 and p99, at
  concurrency 1 and 10, in interleaved rounds (median of rounds);
* the request rate at concurrency 64 and 128 (0 ms and 20 ms upstream) and its error count;
* streaming: added time to first token and added inter-chunk gap, one stream at a time, and
  ``--concurrent-streams`` (1,000) at once, 50 ms apart, with CPU per relayed chunk
  (``bench/streams.py``);
* CPU seconds per 1,000 requests and peak RSS, per process;
* the same with usage recording off, and with tracing exported to a local OTLP receiver
  (every trace, and one in ten);
* ``floor``: the same hops with the gateway and router replaced by the bare minimum
  (``bench/floor/``: uvicorn + one gRPC call; grpc.aio + the same HTTP client).

Results go to ``bench/results/<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from wrk import BODY, wrk

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


@dataclass
class Stack:
    gateway_url: str
    upstream_url: str
    procs: list[Proc] = field(default_factory=list)


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


@contextmanager
def stack(variant: str, workdir: Path) -> Iterator[Stack]:
    """Upstream + metrics + router + gateway (+ OTLP receiver for the tracing variant)."""
    ports = {n: free_port() for n in ("upstream", "gateway", "router", "metrics", "otlp")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMROUTER_", "OTEL_"))}
    env["LLMROUTER_GATEWAY_AUTH_ENABLED"] = "false"
    if os.environ.get("BENCH_LOOP"):
        env["LLMROUTER_EVENT_LOOP"] = os.environ["BENCH_LOOP"]
    procs: list[Proc] = []
    if variant.startswith("tracing"):
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{ports['otlp']}"
        if variant == "tracing-10pct":
            # What a busy deployment would run: 1 trace in 10, decided at the gateway.
            env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
            env["OTEL_TRACES_SAMPLER_ARG"] = "0.1"
        receiver = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "otlp_sink.py"), str(ports["otlp"])],
            env=env,
        )
        procs.append(Proc("otlp-receiver", receiver))
    config = workdir / f"{variant}.toml"
    config.write_text(
        f"""
[gateway]
port = {ports["gateway"]}
router_addresses = ["127.0.0.1:{ports["router"]}"]
metrics_address = "127.0.0.1:{ports["metrics"]}"
[metrics]
port = {ports["metrics"]}
prometheus_port = 0
database_url = "sqlite+aiosqlite:///{workdir / variant}-metrics.sqlite3"
[router]
port = {ports["router"]}
prometheus_port = 0
metrics_address = "127.0.0.1:{ports["metrics"]}"
outbox_path = "{workdir / variant}-outbox.sqlite3"
state_path = "{workdir / variant}-state.json"
record_usage = {"false" if variant == "usage-off" else "true"}
default_chain = ["fast"]
allowed_private_hosts = ["127.0.0.1"]
[[router.providers]]
name = "bench"
kind = "openai"
base_url = "http://127.0.0.1:{ports["upstream"]}/v1"
max_connections = 1024
[[router.models]]
name = "fast"
provider = "bench"
upstream_model = "bench-0"
[[router.models]]
name = "slow"
provider = "bench"
upstream_model = "bench-20"
[[router.models]]
name = "paced"
provider = "bench"
upstream_model = "bench-0-50"
[[router.models]]
name = "paced-1"
provider = "bench"
upstream_model = "bench-0-50-1"
"""
    )
    upstream = subprocess.Popen(
        ["node", str(ROOT / "bench" / "upstream.js"), str(ports["upstream"])],
        stdout=subprocess.DEVNULL,
    )
    procs.append(Proc("upstream (node)", upstream))
    floor = ROOT / "bench" / "floor"
    for name, command in (
        ("metrics", ["-m", "metrics_svc", "--config", str(config)]),
        (
            "router",
            [
                str(floor / "router.py"),
                str(ports["router"]),
                f"http://127.0.0.1:{ports['upstream']}/v1",
            ]
            if variant == "floor"
            else ["-m", "router_svc", "--config", str(config)],
        ),
        (
            "gateway",
            [str(floor / "gateway.py"), str(ports["gateway"]), str(ports["router"])]
            if variant == "floor"
            else ["-m", "gateway", "--config", str(config)],
        ),
    ):
        if os.environ.get("BENCH_PROFILE") and command[0] == "-m":
            # cProfile switched by SIGUSR1/SIGUSR2 (bench/profiled.py), stats to this folder.
            out = str(Path(os.environ["BENCH_PROFILE"]) / f"{variant}-{name}.pstats")
            command = [str(ROOT / "bench" / "profiled.py"), out, *command[1:]]
        popen = subprocess.Popen(
            [sys.executable, *command],
            env=env,
            stderr=(workdir / f"{variant}-{name}.log").open("w"),
        )
        procs.append(Proc(name, popen))
    try:
        try:
            wait_http(f"http://127.0.0.1:{ports['gateway']}/readyz")
        except RuntimeError:
            for log in sorted(workdir.glob(f"{variant}-*.log")):
                print(f"--- {log.name}\n{log.read_text()[-2000:]}", file=sys.stderr)
            raise
        wait_http(f"http://127.0.0.1:{ports['upstream']}/v1/models")
        yield Stack(
            f"http://127.0.0.1:{ports['gateway']}/v1/chat/completions",
            f"http://127.0.0.1:{ports['upstream']}/v1/chat/completions",
            procs,
        )
    finally:
        for proc in reversed(procs):
            proc.popen.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.popen.kill()


async def stream_timings(url: str, model: str, count: int) -> tuple[float, float]:
    """Median time to first content chunk and median gap between chunks, in ms."""
    body = json.loads(BODY % model) | {"stream": True}
    ttfts, gaps = [], []
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(count):
            started = time.perf_counter()
            last = None
            async with http.stream("POST", url, json=body) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data:") or '"content":"tok' not in line:
                        continue
                    now = time.perf_counter()
                    if last is None:
                        ttfts.append((now - started) * 1000)
                    else:
                        gaps.append((now - last) * 1000)
                    last = now
    return statistics.median(ttfts), statistics.median(gaps)


def measure(variant: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    print(f"== {variant}", file=sys.stderr, flush=True)
    result: dict[str, Any] = {"variant": variant}
    with stack(variant, workdir) as s:
        wrk(s.gateway_url, "fast", 10, 2, workdir)  # warm-up: pools, JIT-less caches, SQLite
        overhead: dict[str, Any] = {}
        for conc in (1, 10):
            rounds = []
            for _ in range(args.rounds):
                direct = wrk(s.upstream_url, "bench-0", conc, args.round_seconds, workdir)
                through = wrk(s.gateway_url, "fast", conc, args.round_seconds, workdir)
                rounds.append(
                    (
                        through.p50_ms - direct.p50_ms,
                        through.p99_ms - direct.p99_ms,
                        direct.p50_ms,
                        through.p50_ms,
                        through.errors,
                    )
                )
            overhead[f"c{conc}"] = {
                "p50_ms": round(statistics.median(r[0] for r in rounds), 3),
                "p99_ms": round(statistics.median(r[1] for r in rounds), 3),
                "direct_p50_ms": round(statistics.median(r[2] for r in rounds), 3),
                "gateway_p50_ms": round(statistics.median(r[3] for r in rounds), 3),
                "errors": sum(r[4] for r in rounds),
            }
        result["overhead"] = overhead
        throughput: dict[str, Any] = {}
        cpu_before = {p.name: p.cpu_seconds() for p in s.procs}
        served = 0
        for model in ("fast", "slow"):
            for conc in (64, 128):
                run = wrk(s.gateway_url, model, conc, args.load_seconds, workdir)
                served += run.requests
                throughput[f"{model}_c{conc}"] = {
                    "rps": round(run.rps, 1),
                    "errors": run.errors,
                    "p50_ms": round(run.p50_ms, 2),
                    "p99_ms": round(run.p99_ms, 2),
                }
        cpu_after = {p.name: p.cpu_seconds() for p in s.procs}
        result["throughput"] = throughput
        result["cpu_s_per_1k"] = {
            n: round((cpu_after[n] - cpu_before[n]) / served * 1000, 3) for n in cpu_before
        }
        result["peak_rss_mb"] = {p.name: round(p.peak_rss_mb(), 1) for p in s.procs}
        result["total_service_rss_mb"] = round(
            sum(
                v for k, v in result["peak_rss_mb"].items() if k in ("gateway", "router", "metrics")
            ),
            1,
        )
        direct = asyncio.run(stream_timings(s.upstream_url, "bench-0", args.streams))
        through = asyncio.run(stream_timings(s.gateway_url, "fast", args.streams))
        result["streaming"] = {
            "direct_ttft_ms": round(direct[0], 3),
            "gateway_ttft_ms": round(through[0], 3),
            "added_ttft_ms": round(through[0] - direct[0], 3),
            "direct_gap_ms": round(direct[1], 3),
            "gateway_gap_ms": round(through[1], 3),
            "added_gap_ms": round(through[1] - direct[1], 3),
        }
        if args.concurrent_streams:
            from streams import measure_streams  # beside this file

            result["concurrent"] = measure_streams(s, args.concurrent_streams)
    return result


def markdown(results: list[dict[str, Any]], when: str) -> str:
    variants = [r["variant"] for r in results]
    rows = [f"| measure | {' | '.join(variants)} |", "|---|" + "---|" * len(variants)]

    def row(label: str, get: Any) -> None:
        rows.append(f"| {label} | " + " | ".join(str(get(r)) for r in results) + " |")

    for conc in ("c1", "c10"):
        row(f"overhead p50 ms, {conc}", lambda r, c=conc: r["overhead"][c]["p50_ms"])
        row(f"overhead p99 ms, {conc}", lambda r, c=conc: r["overhead"][c]["p99_ms"])
    for key in ("fast_c64", "fast_c128", "slow_c64", "slow_c128"):
        row(
            f"req/s {key.replace('fast', '0 ms').replace('slow', '20 ms').replace('_c', ', c=')}",
            lambda r, k=key: (
                f"{r['throughput'][k]['rps']:.0f} ({r['throughput'][k]['errors']} err)"
            ),
        )
    row("added TTFT ms (stream)", lambda r: r["streaming"]["added_ttft_ms"])
    row("added inter-chunk gap ms", lambda r: r["streaming"]["added_gap_ms"])
    if all("concurrent" in r for r in results):
        from streams import ROWS

        for label, key in ROWS[:-1]:
            row(label, lambda r, k=key: r["concurrent"][k])
    for name in ("gateway", "router", "metrics"):
        row(f"CPU s / 1k req, {name}", lambda r, n=name: r["cpu_s_per_1k"].get(n, "-"))
    for name in ("gateway", "router", "metrics"):
        row(f"peak RSS MB, {name}", lambda r, n=name: r["peak_rss_mb"].get(n, "-"))
    row("total RSS MB (3 services)", lambda r: r["total_service_rss_mb"])
    head = (
        f"Benchmark {when} on {os.cpu_count()} CPUs, all processes co-located (`make bench`).\n\n"
    )
    return head + "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=int, default=3)
    parser.add_argument("--load-seconds", type=int, default=8)
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--concurrent-streams", type=int, default=1000, help="0: none")
    parser.add_argument("--variants", default="floor,default,usage-off,tracing,tracing-10pct")
    args = parser.parse_args()
    for tool in ("wrk", "node"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is required (apt-get install -y wrk nodejs)", file=sys.stderr)
            return 2
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory(prefix="llmrouter-bench-") as tmp:
        results = [measure(v, args, Path(tmp)) for v in args.variants.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{when}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results, when)
    (RESULTS / f"{when}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
