"""``bench/run.py --peers`` (``make bench-peers``): llmrouter beside another gateway.

One Node.js upstream (``bench/upstream.js``) serves every front at once: the ``floor`` (the
bare hops of ``bench/floor/``), ``llmrouter`` (the three services, usage recorded, as
``make bench``'s ``default``), and LiteLLM's proxy with one worker (its default) and with two
(one per core here). LiteLLM runs from ``.bench-peers-venv``, installed by ``make bench-peers``
from ``requirements/bench-peers.txt``, never from the project's venv.

Rounds are interleaved: each round visits every front (starting one further each round, so no
front always follows the same one) and takes, per front, the c=1 overhead against the upstream
measured just before it, then a c=64 closed-loop load during which the front's CPU is counted.
Reported per front: medians over the rounds.

LiteLLM's proxy is configured as its docs show for an OpenAI-compatible server: a
``model_list`` of ``openai/<upstream model>`` entries with the upstream's ``api_base``
(docs.litellm.ai/docs/proxy/configs). No ``database_url`` (no database, no spend logs),
``LITELLM_LOCAL_MODEL_COST_MAP=True`` (its bundled price map, instead of fetching one at start),
uvicorn's access log off and no master key (as llmrouter's gateway runs here: auth off,
loopback only); with two workers, a worker health-check timeout of 120 s (see ``litellm``).
This release has no telemetry to turn off (``--telemetry`` is a no-op).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from environment import file_sha256
from harness import ROOT, Proc, free_port, start_upstream, stop, wait_http, wrk
from stacks import Stack, stack

VENV = ROOT / ".bench-peers-venv"
LOCK = ROOT / "requirements" / "bench-peers.txt"
# Only uvicorn's per-request access log is silenced; LiteLLM's own logging stays as shipped.
_LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"uvicorn.access": {"level": "WARNING"}},
}


def litellm_version() -> str:
    """The LiteLLM version installed in ``.bench-peers-venv`` (RuntimeError if absent)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"{VENV.name} is missing: run `make bench-peers`")
    return subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('litellm'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@contextmanager
def litellm(workdir: Path, upstream_port: int, workers: int) -> Iterator[Stack]:
    """LiteLLM's proxy with ``workers`` uvicorn workers in front of the upstream."""
    name = f"litellm-{workers}w"
    port = free_port()
    upstream = f"http://127.0.0.1:{upstream_port}/v1"
    config = workdir / f"{name}.yaml"  # JSON is YAML
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": alias,
                        "litellm_params": {
                            "model": f"openai/{model}",
                            "api_base": upstream,
                            "api_key": "bench",
                        },
                    }
                    for alias, model in (("fast", "bench-0"), ("slow", "bench-20"))
                ]
            }
        )
    )
    log_config = workdir / "litellm-logging.json"
    log_config.write_text(json.dumps(_LOG_CONFIG))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMROUTER_", "OTEL_"))}
    env |= {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
    }
    command = [
        str(VENV / "bin" / "litellm"),
        *("--config", str(config), "--host", "127.0.0.1", "--port", str(port)),
        *("--num_workers", str(workers), "--log_config", str(log_config)),
    ]
    if workers > 1:
        # uvicorn's supervisor gives a worker 5 s to answer its health check; importing
        # LiteLLM takes longer on two busy cores, so with the default it kills and respawns
        # workers in a loop.
        command += ["--timeout_worker_healthcheck", "120"]
    log = (workdir / f"{name}.log").open("w")
    popen = subprocess.Popen(
        command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    procs = [Proc("litellm", popen)]
    try:
        try:
            wait_http(f"http://127.0.0.1:{port}/health/liveliness", timeout=180)
        except RuntimeError:
            print(f"--- {name}.log\n{(workdir / f'{name}.log').read_text()[-3000:]}")
            raise
        yield Stack(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            f"{upstream}/chat/completions",
            procs,
        )
    finally:
        stop(procs)


def _median(values: list[float], digits: int = 3) -> float:
    return round(statistics.median(values), digits)


def compare(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """Start every front on one upstream, measure them in interleaved rounds, summarise."""
    upstream_port = free_port()
    upstream = start_upstream(upstream_port)
    try:
        wait_http(f"http://127.0.0.1:{upstream_port}/v1/models")
        with ExitStack() as started:
            fronts: dict[str, Stack] = {
                "floor": started.enter_context(stack("floor", workdir, upstream_port)),
                "llmrouter": started.enter_context(stack("default", workdir, upstream_port)),
                "litellm": started.enter_context(litellm(workdir, upstream_port, 1)),
                "litellm-2w": started.enter_context(litellm(workdir, upstream_port, 2)),
            }
            for front in fronts.values():  # warm-up: pools, caches, SQLite
                wrk(front.gateway_url, "fast", 10, 2, workdir)
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in fronts}
            names = list(fronts)
            for index in range(args.rounds):
                shift = index % len(names)
                for name in names[shift:] + names[:shift]:
                    print(f"== round {index + 1}: {name}", flush=True)
                    rounds[name].append(_round(fronts[name], args, workdir))
            return [_summary(name, rounds[name], fronts[name].procs) for name in names]
    finally:
        stop([upstream])


def _round(front: Stack, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    direct = wrk(front.upstream_url, "bench-0", 1, args.round_seconds, workdir)
    through = wrk(front.gateway_url, "fast", 1, args.round_seconds, workdir)
    cpu_before = {p.name: p.cpu_seconds() for p in front.procs}
    load = wrk(front.gateway_url, "fast", 64, args.load_seconds, workdir)
    sample = {
        "p50_ms": through.p50_ms - direct.p50_ms,
        "p99_ms": through.p99_ms - direct.p99_ms,
        "direct_p50_ms": direct.p50_ms,
        "gateway_p50_ms": through.p50_ms,
        "c1_errors": through.errors,
        "rps": load.rps,
        "c64_errors": load.errors,
        "c64_timeouts": load.timeouts,
        "c64_p50_ms": load.p50_ms,
        "c64_p99_ms": load.p99_ms,
    }
    for proc in front.procs:
        spent = proc.cpu_seconds() - cpu_before[proc.name]
        sample[f"cpu:{proc.name}"] = spent / max(load.requests, 1) * 1000
    return sample


def _summary(name: str, samples: list[dict[str, float]], procs: list[Proc]) -> dict[str, Any]:
    def med(key: str) -> float:
        return _median([s[key] for s in samples])

    cpu = {p.name: med(f"cpu:{p.name}") for p in procs}
    rss = {p.name: round(p.peak_rss_mb(), 1) for p in procs}
    return {
        "variant": name,
        "overhead": {
            "c1": {
                "p50_ms": med("p50_ms"),
                "p99_ms": med("p99_ms"),
                "direct_p50_ms": med("direct_p50_ms"),
                "gateway_p50_ms": med("gateway_p50_ms"),
                "errors": int(sum(s["c1_errors"] for s in samples)),
            }
        },
        "throughput": {
            "fast_c64": {
                "rps": round(statistics.median(s["rps"] for s in samples), 1),
                "errors": int(sum(s["c64_errors"] for s in samples)),
                "timeouts": int(sum(s["c64_timeouts"] for s in samples)),
                "p50_ms": round(med("c64_p50_ms"), 2),
                "p99_ms": round(med("c64_p99_ms"), 2),
            }
        },
        "cpu_s_per_1k": cpu,
        "cpu_s_per_1k_total": round(sum(cpu.values()), 3),
        "peak_rss_mb": rss,
        "total_rss_mb": round(sum(rss.values()), 1),
        "rounds": len(samples),
    }


def markdown(results: list[dict[str, Any]], head: str) -> str:
    """The result table: one column per front."""
    rows = [
        f"| measure | {' | '.join(r['variant'] for r in results)} |",
        "|---|" + "---|" * len(results),
    ]

    def row(label: str, get: Any) -> None:
        rows.append(f"| {label} | " + " | ".join(str(get(r)) for r in results) + " |")

    row("overhead p50 ms, c=1", lambda r: r["overhead"]["c1"]["p50_ms"])
    row("overhead p99 ms, c=1", lambda r: r["overhead"]["c1"]["p99_ms"])

    def load(r: dict[str, Any]) -> str:
        run = r["throughput"]["fast_c64"]
        timeouts = f", {run['timeouts']} of them > 2 s" if run.get("timeouts") else ""
        return f"{run['rps']:.0f} ({run['errors']} err{timeouts})"

    row("req/s 0 ms, c=64", load)
    row("latency p50 ms, c=64", lambda r: r["throughput"]["fast_c64"]["p50_ms"])
    row("CPU ms / request (all its processes)", lambda r: r["cpu_s_per_1k_total"])
    row("peak RSS MB (all its processes)", lambda r: r["total_rss_mb"])
    return head + "\n\n" + "\n".join(rows) + "\n"


def lock_sha256() -> str | None:
    """sha256 of ``requirements/bench-peers.txt``, the set ``.bench-peers-venv`` holds."""
    return file_sha256(LOCK)
