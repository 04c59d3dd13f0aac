"""Streams at scale: N streams opened at once, through the gateway and direct to the upstream.

Each stream is 64 content chunks 50 ms apart (upstream model ``bench-0-50``, the router's
``paced`` model; ``bench/upstream.js``). The streams are opened all at once by a client in a
process of its own (raw asyncio streams on uvloop: it counts ``"content":"tok`` in what it
reads and parses nothing else, so it is not the bottleneck), first direct to the upstream,
then through the gateway. Reported, per stack variant (``floor`` and the product):

* errors: a status other than 200, a broken connection, a stream without its 64 chunks or
  ``[DONE]``, or an error event;
* added time to first token (p50, p99): through the gateway minus direct, each measured from
  the moment the client starts connecting to the first content chunk;
* added inter-chunk gap (p99): through minus direct, the gap between consecutive content
  chunks as the client reads them (chunks read together count as 0 apart);
* CPU per relayed chunk: user + system CPU of the gateway and router processes together while
  the gateway run lasts, divided by the content chunks the client received (request set-up
  included: it is spread over the stream's chunks); and its two parts, from a run of as many
  one-chunk streams: set-up per stream, and relaying per further chunk;
* the machine's 1-minute load average before the runs (other processes share the 2 cores).

    .venv/bin/python bench/streams.py --streams 1000 --variants floor,default

``bench/run.py`` runs :func:`measure_streams` on each of its stacks (``--concurrent-streams``).
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
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHUNKS = 64
_PATTERN = b'"content":"tok'
_DONE = b"data: [DONE]"


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * pct / 100), len(ordered) - 1)]


async def _one(url: str, body: bytes, chunks: int, ttfts: list[float], gaps: list[float]) -> str:
    """One stream; "" when it was whole, else what went wrong."""
    parts = urlsplit(url)
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    except OSError as exc:
        return f"connect: {type(exc).__name__}"
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return f"status {head[9:12].decode()}"
        seen, last, tail, done = 0, 0.0, b"", False
        while not done:
            data = await reader.read(262144)
            if not data:
                return f"closed after {seen} chunks"
            now = time.perf_counter()
            buf = tail + data
            new = buf.count(_PATTERN) - tail.count(_PATTERN)
            if new:
                if seen == 0:
                    ttfts.append((now - started) * 1000)
                else:
                    gaps.append((now - last) * 1000)
                gaps.extend([0.0] * (new - 1))
                seen += new
                last = now
            if b'"error"' in buf:
                return "error event"
            done = _DONE in buf
            tail = buf[-64:]
        return "" if seen == chunks else f"{seen} chunks"
    except (OSError, asyncio.IncompleteReadError) as exc:
        return f"read: {type(exc).__name__}"
    finally:
        writer.close()


async def _client(url: str, model: str, count: int, chunks: int) -> dict[str, Any]:
    body = json.dumps(
        {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hi."}]}
    ).encode()
    ttfts: list[float] = []
    gaps: list[float] = []
    results = await asyncio.gather(*(_one(url, body, chunks, ttfts, gaps) for _ in range(count)))
    errors = [r for r in results if r]
    return {
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "chunks": sum(1 for _ in gaps) + len(ttfts),
        # Content chunks per read that had any: above 1 when they came written together.
        "chunks_per_read": round(
            (len(gaps) + len(ttfts)) / max(sum(1 for g in gaps if g) + len(ttfts), 1), 3
        ),
        "ttft_p50_ms": statistics.median(ttfts) if ttfts else float("nan"),
        "ttft_p99_ms": _percentile(ttfts, 99),
        "gap_p50_ms": _percentile(gaps, 50),
        "gap_p99_ms": _percentile(gaps, 99),
    }


def run_client(url: str, model: str, count: int, chunks: int = CHUNKS) -> dict[str, Any]:
    """Run ``count`` streams of ``chunks`` chunks at once in a client process of its own; its
    summary."""
    out = subprocess.run(
        [sys.executable, __file__, "--client", url, model, str(count), str(chunks)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def _cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process ``pid``, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def _signal(procs: list[Any], signum: int) -> None:
    if os.environ.get("BENCH_PROFILE"):
        for proc in procs:
            proc.popen.send_signal(signum)
        time.sleep(0.5)


def measure_streams(stack: Any, count: int, rounds: int = 1) -> dict[str, Any]:
    """Direct vs through ``stack`` (a ``run.Stack``): ``count`` streams at once, ``rounds``
    times each, alternating; medians over rounds of the added latencies, CPU per chunk."""
    procs = [p for p in stack.procs if p.name in ("gateway", "router")]
    run_client(stack.gateway_url, "paced", min(count, 20))  # warm-up: pools, code paths
    load = float(Path("/proc/loadavg").read_text().split()[0])
    rows = []
    for _ in range(rounds):
        direct = run_client(stack.upstream_url, "bench-0-50", count)
        _signal(procs, signal.SIGUSR1)  # starts cProfile under BENCH_PROFILE (bench/run.py)
        before = {p.name: _cpu(p.popen.pid) for p in procs}
        through = run_client(stack.gateway_url, "paced", count)
        after = {p.name: _cpu(p.popen.pid) for p in procs}
        _signal(procs, signal.SIGUSR2)
        per_chunk = 1e6 / max(through["chunks"], 1)
        cpu = {
            f"{name}_{kind}_us": round((after[name][i] - before[name][i]) * per_chunk, 1)
            for name in after
            for i, kind in enumerate(("user", "sys"))
        }
        cpu["total"] = sum(cpu.values()) / per_chunk
        rows.append((direct, through, cpu))

    # The same streams with one chunk each: what setting a stream up costs, apart from relaying.
    before = {p.name: _cpu(p.popen.pid) for p in procs}
    short = run_client(stack.gateway_url, "paced-1", count, 1)
    after = {p.name: _cpu(p.popen.pid) for p in procs}
    setup = {n: (sum(after[n]) - sum(before[n])) / max(count, 1) for n in after}
    setup_s = sum(setup.values())

    def med(get: Any) -> float:
        return round(float(statistics.median(get(d, t, c) for d, t, c in rows)), 3)

    return {
        "streams": count,
        "load1_before": load,
        "errors": sum(t["errors"] for _, t, _ in rows),
        "error_kinds": sorted({k for _, t, _ in rows for k in t["error_kinds"]})[:5],
        "direct_errors": sum(d["errors"] for d, _, _ in rows),
        "added_ttft_p50_ms": med(lambda d, t, c: t["ttft_p50_ms"] - d["ttft_p50_ms"]),
        "added_ttft_p99_ms": med(lambda d, t, c: t["ttft_p99_ms"] - d["ttft_p99_ms"]),
        "added_gap_p99_ms": med(lambda d, t, c: t["gap_p99_ms"] - d["gap_p99_ms"]),
        "direct_ttft_p99_ms": med(lambda d, t, c: d["ttft_p99_ms"]),
        "direct_gap_p99_ms": med(lambda d, t, c: d["gap_p99_ms"]),
        "chunks_per_read": med(lambda d, t, c: t["chunks_per_read"]),
        "cpu_us_per_chunk": med(lambda d, t, c: c["total"] / max(t["chunks"], 1) * 1e6),
        "setup_cpu_ms_per_stream": round(setup_s * 1000, 3),
        "setup_split_ms": {n: round(v * 1000, 3) for n, v in setup.items()},
        "setup_errors": short["errors"],
        # Per chunk beyond the first: (CPU per stream - set-up) / (chunks - 1).
        "relay_cpu_us_per_chunk": med(
            lambda d, t, c: (c["total"] / count - setup_s) / (CHUNKS - 1) * 1e6
        ),
        # The last round's split by process, user and system (kernel) time, µs per chunk.
        "cpu_split": {k: v for k, v in rows[-1][2].items() if k != "total"},
    }


ROWS = (
    ("streams at once", "streams"),
    ("stream errors", "errors"),
    ("added TTFT p50 ms", "added_ttft_p50_ms"),
    ("added TTFT p99 ms", "added_ttft_p99_ms"),
    ("added inter-chunk gap p99 ms", "added_gap_p99_ms"),
    ("chunks per client read (through)", "chunks_per_read"),
    ("CPU µs / relayed chunk (gateway+router)", "cpu_us_per_chunk"),
    ("of which set-up, CPU ms / stream", "setup_cpu_ms_per_stream"),
    ("of which relaying, CPU µs / chunk", "relay_cpu_us_per_chunk"),
    ("load average before", "load1_before"),
)
"""(label, key) of the table rows, for this script's table and ``bench/run.py``'s."""


def table(results: list[dict[str, Any]]) -> str:
    """A markdown table: a column per variant."""
    lines = [
        "| measure | " + " | ".join(r["variant"] for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for label, key in ROWS:
        lines.append(f"| {label} | " + " | ".join(str(r[key]) for r in results) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--client":
        import uvloop

        url, model, count, chunks = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(uvloop.run(_client(url, model, count, chunks))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--variants", default="floor,default")
    parser.add_argument("--json", help="write the results to this path too")
    args = parser.parse_args()
    from stacks import stack

    results = []
    with tempfile.TemporaryDirectory(prefix="llmrouter-streams-") as tmp:
        for variant in args.variants.split(","):
            print(f"== {variant}", file=sys.stderr, flush=True)
            with stack(variant, Path(tmp)) as s:
                results.append({"variant": variant} | measure_streams(s, args.streams, args.rounds))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"{os.cpu_count()} CPUs, all processes co-located\n")
    print(table(results))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
