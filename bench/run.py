"""``make bench``: the performance budget, measured on this machine, everything co-located.

Starts a Node.js OpenAI-compatible upstream (0 ms and 20 ms models, 64-chunk streams), the
three services as real processes, and drives them with wrk (closed loop) and an asyncio
streaming client. Reports, side by side:

* overhead = latency through the gateway - latency direct to the upstream, p50 and p99, at
  concurrency 1 and 10, in interleaved rounds (median of rounds);
* the request rate at concurrency 64 and 128 (0 ms and 20 ms upstream) and its error count;
* streaming: added time to first token and added inter-chunk gap, one stream at a time, and
  with ``--concurrent-streams`` (1,000) opened at once, 50 ms apart, with CPU per relayed
  chunk (``bench/streams.py``);
* CPU seconds per 1,000 requests and peak RSS, per process;
* the same with usage recording off, and with tracing exported to a local OTLP receiver
  (every trace, and one in ten);
* ``floor``: the same hops with the gateway and router replaced by the bare minimum
  (``bench/floor/``: uvicorn + one gRPC call; grpc.aio + the same HTTP client), i.e. what
  the three hops cost on this machine before any feature;
* ``limits-embedded`` / ``limits-redis``: per-key rate limits (rpm and tpm) counted in
  process or in Redis (``bench/stacks.py``; skipped when no Redis answers), with the
  gateway's CPU per request against ``default`` (issue 19's target: under 10 %). Rate limits
  do not touch streaming, so these two skip the streaming measures.

Results go to ``bench/results/<date>.json`` and ``.md``, with the machine, the versions of the
key packages and the sha256 of ``requirements/lock.txt`` (``bench/environment.py``).
``--peers`` measures other gateways beside llmrouter instead (``bench/peers.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import peers
from environment import environment, markdown_line
from harness import ROOT, stream_timings, wrk
from stacks import REDIS_URL, stack
from streams import ROWS as STREAM_ROWS
from streams import measure_streams

RESULTS = ROOT / "bench" / "results"


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
        if variant.startswith("limits-"):
            return result  # rate limits do not touch streaming: spare the minutes
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
            result["concurrent"] = measure_streams(s, args.concurrent_streams)
    return result


def markdown(results: list[dict[str, Any]], head: str) -> str:
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
    row("added TTFT ms (stream)", lambda r: r.get("streaming", {}).get("added_ttft_ms", "-"))
    row("added inter-chunk gap ms", lambda r: r.get("streaming", {}).get("added_gap_ms", "-"))
    if any("concurrent" in r for r in results):
        for label, key in STREAM_ROWS[:-1]:
            row(label, lambda r, k=key: r.get("concurrent", {}).get(k, "-"))
    for name in ("gateway", "router", "metrics"):
        row(f"CPU s / 1k req, {name}", lambda r, n=name: r["cpu_s_per_1k"].get(n, "-"))
    default = next((r for r in results if r["variant"] == "default"), None)
    if default is not None and any(r["variant"].startswith("limits-") for r in results):
        base = default["cpu_s_per_1k"]["gateway"]
        row(
            "gateway CPU vs default",
            lambda r: (
                f"{(r['cpu_s_per_1k']['gateway'] / base - 1) * 100:+.0f} %"
                if r["variant"].startswith("limits-") and base
                else "-"
            ),
        )
    for name in ("gateway", "router", "metrics"):
        row(f"peak RSS MB, {name}", lambda r, n=name: r["peak_rss_mb"].get(n, "-"))
    row("total RSS MB (3 services)", lambda r: r["total_service_rss_mb"])
    return head + "\n\n" + "\n".join(rows) + "\n"


def _redis_answers() -> bool:
    """Whether the Redis of the limits-redis variant answers PING."""
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=int, default=3)
    parser.add_argument("--load-seconds", type=int, default=8)
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--concurrent-streams", type=int, default=1000, help="0: none")
    parser.add_argument(
        "--variants",
        default="floor,default,usage-off,tracing,tracing-10pct,limits-embedded,limits-redis",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="floor, llmrouter and LiteLLM's proxy on one upstream (bench/peers.py)",
    )
    parser.add_argument("--name", help="result file stem (default: <date>, <date>-peers)")
    args = parser.parse_args()
    for tool in ("wrk", "node"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is required (apt-get install -y wrk nodejs)", file=sys.stderr)
            return 2
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    env = environment()
    record: dict[str, Any] = {"date": when, "command": "make bench", "environment": env}
    head = f"Benchmark {when} on {env['cpus']} CPUs, all processes co-located (`make bench`)."
    if args.peers:
        record |= {
            "command": "make bench-peers",
            "peers": {
                "litellm": peers.litellm_version(),
                "lock": str(peers.LOCK.relative_to(ROOT)),
                "lock_sha256": peers.lock_sha256(),
            },
        }
        head = (
            f"Peers benchmark {when} on {env['cpus']} CPUs, all processes co-located, one Node"
            f" upstream (`make bench-peers`): LiteLLM {record['peers']['litellm']} proxy with"
            " 1 worker (its default) and 2; medians of"
            f" {args.rounds} interleaved rounds."
        )
    with tempfile.TemporaryDirectory(prefix="llmrouter-bench-") as tmp:
        if args.peers:
            results = peers.compare(args, Path(tmp))
        else:
            variants = args.variants.split(",")
            if "limits-redis" in variants and not _redis_answers():
                print(f"bench: no Redis at {REDIS_URL}: limits-redis skipped", file=sys.stderr)
                variants.remove("limits-redis")
            results = [measure(v, args, Path(tmp)) for v in variants]
    env["loadavg_end"] = round(os.getloadavg()[0], 2)
    head += "\n\n" + markdown_line(env)
    record["results"] = results
    stem = args.name or (f"{when}-peers" if args.peers else when)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    text = (peers.markdown if args.peers else markdown)(results, head)
    (RESULTS / f"{stem}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
