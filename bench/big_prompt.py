"""What big prompts cost: latency added by the gateway and router for 1 KB to 8 MB prompts.

Starts the real stack and the floor (``bench/floor/``: the same three hops with nothing but a
bare gateway and router) with ``bench/stacks.py`` (Node.js upstream, real processes,
everything on this machine). For each prompt size it sends, in interleaved pairs, one request
direct to the upstream and one through the gateway (one user message of that many bytes of
text, no stream, one connection each, kept alive); both stacks run at once and their requests
alternate, so that other load on the machine weighs on both alike. It reports:

* the median latency of each and the overhead (through - direct), in ms;
* the overhead per MB of prompt (linear growth keeps it flat from 1 MB on);
* CPU ms per request of the gateway and the router processes (all their threads, from
  ``/proc/<pid>/task/*/schedstat``), and their peak RSS;
* real over floor overhead at each size; the target at 1 MB is at most 1.2.

    .venv/bin/python bench/big_prompt.py [--sizes 1K,100K,1M,8M] [--requests 100]

Writes ``bench/results/<date>-big-prompt.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import httpx
from environment import environment, markdown_line
from harness import ROOT
from stacks import stack

RESULTS = ROOT / "bench" / "results"

_UNITS = {"K": 1000, "M": 1000 * 1000}
_WORDS = [
    "the",
    "model",
    "reads",
    "a",
    "long",
    "document",
    "before",
    "it",
    "answers",
    "and",
    "every",
    "page",
    "of",
    "the",
    "contract",
    "matters",
    "because",
    "clauses",
    "refer",
    "to",
    "other",
    "clauses",
    "defined",
    "many",
    "pages",
    "earlier",
    "in",
    "the",
    "text",
]


def parse_size(text: str) -> int:
    """``1K`` -> 1000, ``8M`` -> 8,000,000 bytes (decimal, as prompt sizes are quoted)."""
    unit = _UNITS.get(text[-1].upper())
    return int(text[:-1]) * unit if unit else int(text)


def prompt(size: int, seed: int = 0) -> str:
    """``size`` bytes of ASCII prose in lines of about 80 characters (deterministic)."""
    rng = random.Random(seed)
    out: list[str] = []
    length = line = 0
    while length < size:
        word = rng.choice(_WORDS)
        sep = "\n" if line > 80 else " "
        line = 0 if sep == "\n" else line + len(word) + 1
        out.append(word + sep)
        length += len(word) + 1
    return "".join(out)[:size]


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of process ``pid`` in nanoseconds (``/proc/.../schedstat``: the
    scheduler's own clock, unlike ``stat``'s 10 ms ticks). Threads that ended are not counted:
    the services' threads live as long as they do."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(OSError, IndexError, ValueError):  # the thread ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total


def body(model: str, text: str) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": text}]}).encode()


def timed(client: httpx.Client, url: str, content: bytes) -> float:
    started = time.perf_counter()
    reply = client.post(url, content=content, headers={"content-type": "application/json"})
    elapsed = (time.perf_counter() - started) * 1000
    if reply.status_code != 200:
        raise RuntimeError(f"{url}: {reply.status_code} {reply.text[:300]}")
    return elapsed


def ready(client: httpx.Client, url: str, within_s: float = 30.0) -> None:
    """Wait until a small request goes through (the floor gateway is "ready" before its
    router listens)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            timed(client, url, body("fast", "hello"))
            return
        except (RuntimeError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def measure(
    variants: list[str], sizes: list[str], requests: int, workdir: Path
) -> dict[str, dict[str, Any]]:
    """Every variant's stack at once, their requests interleaved (direct and through, one
    variant after the other) so that whatever else loads the machine weighs on all alike.
    Per variant and size: median direct and through latency, overhead and CPU per request."""
    results: dict[str, dict[str, Any]] = {v: {} for v in variants}
    with ExitStack() as running, httpx.Client(timeout=120) as client:
        stacks = {}
        for variant in variants:
            print(f"== starting {variant}", file=sys.stderr, flush=True)
            stacks[variant] = running.enter_context(stack(variant, workdir))
            ready(client, stacks[variant].gateway_url)
        for label in sizes:
            size = parse_size(label)
            text = prompt(size)
            direct_body, through_body = body("bench-0", text), body("fast", text)
            # Fewer rounds above 1 MB: each takes a while and varies less.
            count = requests if size <= 1_000_000 else max(8, requests // 2)
            times: dict[str, tuple[list[float], list[float]]] = {v: ([], []) for v in variants}
            pids = {v: {p.name: p.popen.pid for p in s.procs} for v, s in stacks.items()}
            for s in stacks.values():  # warm-up: pools, caches, first allocations of this size
                for _ in range(2):
                    timed(client, s.upstream_url, direct_body)
                    timed(client, s.gateway_url, through_body)
            cpu = {v: {n: 0 for n in ("gateway", "router")} for v in variants}
            for _ in range(count):
                for variant, s in stacks.items():
                    direct, through = times[variant]
                    direct.append(timed(client, s.upstream_url, direct_body))
                    before = {n: cpu_ns(pids[variant][n]) for n in cpu[variant]}
                    through.append(timed(client, s.gateway_url, through_body))
                    for n in cpu[variant]:
                        cpu[variant][n] += cpu_ns(pids[variant][n]) - before[n]
            for variant in variants:
                direct, through = times[variant]
                d, t = statistics.median(direct), statistics.median(through)
                row = results[variant][label] = {
                    "bytes": size,
                    "requests": count,
                    "direct_ms": round(d, 2),
                    "through_ms": round(t, 2),
                    "overhead_ms": round(t - d, 2),
                    "overhead_ms_per_mb": round((t - d) / (size / 1e6), 2) if size >= 1e6 else None,
                    "cpu_ms_per_request": {
                        n: round(v / count / 1e6, 3) for n, v in cpu[variant].items()
                    },
                    # Peak so far (sizes run smallest first, one request at a time).
                    "peak_rss_mb": {
                        p.name: round(p.peak_rss_mb(), 1)
                        for p in stacks[variant].procs
                        if p.name in ("gateway", "router")
                    },
                }
                print(f"   {variant} {label}: {row}", file=sys.stderr, flush=True)
    return results


def markdown(results: dict[str, dict[str, Any]], sizes: list[str], when: str) -> str:
    real, floor = results["default"], results["floor"]
    lines = [
        f"Big prompts, {when}, {os.cpu_count()} CPUs, all processes co-located "
        "(`bench/big_prompt.py`): median ms per request, no stream.",
        "",
        "| prompt | direct | through | overhead | floor overhead | real / floor "
        "| overhead ms per MB | CPU ms gateway + router (floor) | peak RSS MB gateway + router "
        "(floor) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label in sizes:
        r, f = real[label], floor[label]
        ratio = r["overhead_ms"] / f["overhead_ms"] if f["overhead_ms"] > 0 else float("nan")
        per_mb = r["overhead_ms_per_mb"]
        cpu, fcpu = r["cpu_ms_per_request"], f["cpu_ms_per_request"]
        rss, frss = r["peak_rss_mb"], f["peak_rss_mb"]
        lines.append(
            f"| {label} | {r['direct_ms']} | {r['through_ms']} | {r['overhead_ms']} "
            f"| {f['overhead_ms']} | {ratio:.2f} | {per_mb if per_mb is not None else '-'} "
            f"| {cpu['gateway']} + {cpu['router']} ({fcpu['gateway']} + {fcpu['router']}) "
            f"| {rss['gateway']} + {rss['router']} ({frss['gateway']} + {frss['router']}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1K,100K,1M,8M")
    parser.add_argument("--requests", type=int, default=100, help="per size (half above 1 MB)")
    parser.add_argument("--variants", default="floor,default")
    args = parser.parse_args()
    if shutil.which("node") is None:
        print("bench: node is required (apt-get install -y nodejs)", file=sys.stderr)
        return 2
    sizes = args.sizes.split(",")
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    env = environment()
    with tempfile.TemporaryDirectory(prefix="llmrouter-big-") as tmp:
        results = measure(args.variants.split(","), sizes, args.requests, Path(tmp))
    # Other work on the machine shows in the latencies: said with the results.
    env["loadavg_end"] = round(os.getloadavg()[0], 2)
    text = ""
    if {"floor", "default"} <= results.keys():
        text = markdown(results, sizes, when) + "\n" + markdown_line(env) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"date": when, "command": "bench/big_prompt.py", "environment": env, **results}
    (RESULTS / f"{when}-big-prompt.json").write_text(json.dumps(record, indent=2) + "\n")
    if text:
        (RESULTS / f"{when}-big-prompt.md").write_text(text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
