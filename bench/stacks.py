"""llmrouter's three services as real processes, per ``bench/run.py`` variant.

Variants: ``default`` (usage recorded), ``usage-off``, ``tracing`` and ``tracing-10pct`` (an
OTLP receiver in ``bench/otlp_sink.py``), ``floor`` (gateway and router replaced by the
bare hops in ``bench/floor/``), and ``limits-embedded`` / ``limits-redis``: ``default`` with
per-key rate limits (rpm and tpm, high enough never to refuse, so every request is checked,
counted and corrected) in the embedded store or in the Redis of ``BENCH_REDIS`` (default
``redis://127.0.0.1:6379/0``; the whole ``[state]`` then lives there, as with replicas).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness import ROOT, Proc, free_port, start_upstream, stop, wait_http


@dataclass
class Stack:
    """URLs to drive and the processes to measure (the upstream's among them if it is ours)."""

    gateway_url: str
    upstream_url: str
    procs: list[Proc] = field(default_factory=list)


REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
# Per-key limits of the limits-* variants: high enough never to refuse a request.
NEVER_REFUSING = 1_000_000_000


def _limits(variant: str) -> tuple[str, str]:
    """The [gateway] lines and the [state] section of ``variant``."""
    if not variant.startswith("limits-"):
        return "", ""
    lines = f"rate_limit_rpm = {NEVER_REFUSING}\nrate_limit_tpm = {NEVER_REFUSING}\n"
    if variant != "limits-redis":
        return lines, ""
    state = (
        f'[state]\nbackend = "redis"\nredis_url = "{REDIS_URL}"\n'
        f'key_prefix = "llmrouter-bench:{uuid.uuid4().hex}:"\n'
    )
    return lines, state


def _config(variant: str, workdir: Path, ports: dict[str, int], upstream: str) -> Path:
    config = workdir / f"{variant}.toml"
    limits, state = _limits(variant)
    config.write_text(
        f"""{state}
[gateway]
{limits}port = {ports["gateway"]}
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
base_url = "{upstream}/v1"
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
    return config


@contextmanager
def stack(variant: str, workdir: Path, upstream_port: int | None = None) -> Iterator[Stack]:
    """Metrics + router + gateway (+ OTLP receiver for the tracing variants).

    With ``upstream_port`` the stack uses that running upstream; without, it starts its own,
    listed in ``Stack.procs``. Everything is stopped on exit.
    """
    ports = {n: free_port() for n in ("gateway", "router", "metrics", "otlp")}
    ports["upstream"] = upstream_port or free_port()
    upstream = f"http://127.0.0.1:{ports['upstream']}"
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
    config = _config(variant, workdir, ports, upstream)
    if upstream_port is None:
        procs.append(start_upstream(ports["upstream"]))
    floor = ROOT / "bench" / "floor"
    for name, command in (
        ("metrics", ["-m", "metrics_svc", "--config", str(config)]),
        (
            "router",
            [str(floor / "router.py"), str(ports["router"]), f"{upstream}/v1"]
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
        wait_http(f"{upstream}/v1/models")
        yield Stack(
            f"http://127.0.0.1:{ports['gateway']}/v1/chat/completions",
            f"{upstream}/v1/chat/completions",
            procs,
        )
    finally:
        stop(procs)
