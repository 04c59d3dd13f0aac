"""Interleaved A/B of the gateway's own cost per request, between source trees and servers.

Each variant (``--variant NAME=KIND:PATH[@SERVER]``) runs its own Node.js upstream
(``bench/upstream.js``), a router and a gateway, all kept running:

* KIND ``product`` is ``python -m gateway`` from the tree at PATH (auth off, as in
  ``make bench``); ``floor`` is ``PATH/bench/floor/gateway.py``;
* SERVER ``uvicorn`` (the default) is how each normally runs; ``granian`` serves the same app
  with granian's embedded server (``bench/serve_granian.py``; granian must be importable, e.g.
  ``PYTHONPATH`` extended with ``--extra-path``);
* the router is the floor router of this tree (``bench/floor/router.py``) unless
  ``--router product``: the gateway's cost does not depend on it, and a cheap one leaves
  more of the two CPUs to the gateway.

Then, in rounds that alternate between the variants (after a warm-up of each), it sends
``--requests`` ``POST /v1/chat/completions`` (model ``fast``, upstream ``bench-0``) at
``--concurrency`` over keep-alive connections with a minimal HTTP/1.1 client, and reads the
gateway's CPU time (utime + stime, ``/proc/<pid>/stat``) before and after: CPU ms per request
(and its kernel share), p50 latency, requests per second. ``--callgrind DIR`` runs the gateways
under valgrind and reports thousands of user-space instructions per request (``kIr``, all
threads; the kernel's work is not counted), keeping each round's dump for ``callgrind_annotate``;
``--profile DIR`` runs them under cProfile (``bench/profiled.py``, product only).

    .venv/bin/python bench/gateway_ab.py --variant floor=floor:. --variant new=product:. \\
        --variant old=product:/work/wt-old --rounds 6

``--env NAME:VAR=VALUE`` sets an environment variable for variant NAME's processes only (its
config, e.g. ``--env limited:LLMROUTER_GATEWAY_RATE_LIMIT_RPM=1000000000``).

Prints a table of mean ± stdev per variant and measure; ``--json PATH`` writes every round.
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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from router_ab import cpu_seconds, free_port, load1

ROOT = Path(__file__).resolve().parents[1]
BODY = b'{"model":"fast","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'


@dataclass
class Variant:
    """One variant's running upstream, router and gateway."""

    name: str
    kind: str
    tree: Path
    server: str
    port: int = 0
    pid: int = 0
    rounds: list[dict[str, float]] = field(default_factory=list)
    callgrind_out: Path | None = None
    profile_out: Path | None = None
    # Environment variables for this variant's processes only (--env).
    env: dict[str, str] = field(default_factory=dict)


def parse_variant(spec: str) -> Variant:
    """``NAME=KIND:PATH[@SERVER]`` as a :class:`Variant`."""
    name, _, rest = spec.partition("=")
    kind, _, path = rest.partition(":")
    path, _, server = path.partition("@")
    if kind not in ("product", "floor") or server not in ("", "uvicorn", "granian"):
        raise SystemExit(f"bad --variant {spec!r}: NAME=product|floor:PATH[@uvicorn|granian]")
    return Variant(name, kind, Path(path).resolve(), server or "uvicorn")


def _config(tmp: Path, name: str, ports: dict[str, int]) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(
        f"""
[gateway]
port = {ports["gateway"]}
router_addresses = ["127.0.0.1:{ports["router"]}"]
metrics_address = "127.0.0.1:{ports["metrics"]}"
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


def _gateway_command(variant: Variant, config: Path, ports: dict[str, int]) -> list[str]:
    floor = variant.tree / "bench" / "floor" / "gateway.py"
    if variant.server == "granian":
        serve = str(ROOT / "bench" / "serve_granian.py")
        if variant.kind == "floor":
            return [serve, "floor", str(ports["gateway"]), str(ports["router"])]
        return [serve, "product", str(config)]
    if variant.kind == "floor":
        return [str(floor), str(ports["gateway"]), str(ports["router"])]
    return ["-m", "gateway", "--config", str(config)]


@contextmanager
def started(
    variant: Variant,
    tmp: Path,
    args: argparse.Namespace,
) -> Iterator[Variant]:
    """Start ``variant``'s processes; stop them on exit."""
    ports = {n: free_port() for n in ("upstream", "metrics", "router", "gateway")}
    config = _config(tmp, variant.name, ports)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMROUTER_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(variant.tree), *args.extra_path])
    env["LLMROUTER_GATEWAY_AUTH_ENABLED"] = "false"
    env.update(variant.env)
    procs = [
        subprocess.Popen(
            ["node", str(ROOT / "bench" / "upstream.js"), str(ports["upstream"])],
            stdout=subprocess.DEVNULL,
        )
    ]
    upstream = f"http://127.0.0.1:{ports['upstream']}/v1"
    router = (
        ["-m", "router_svc", "--config", str(config)]
        if args.router == "product"
        else [str(ROOT / "bench" / "floor" / "router.py"), str(ports["router"]), upstream]
    )
    commands: list[tuple[str, list[str]]] = [("router", router)]
    if args.router == "product":
        commands.insert(0, ("metrics", ["-m", "metrics_svc", "--config", str(config)]))
    commands.append(("gateway", _gateway_command(variant, config, ports)))
    for name, command in commands:
        prefix: list[str] = []
        if name == "gateway" and args.callgrind:
            variant.callgrind_out = args.callgrind / f"callgrind-{variant.name}"
            prefix = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={variant.callgrind_out}",
            ]
        if name == "gateway" and args.profile and command[0] == "-m":
            variant.profile_out = args.profile / f"profile-{variant.name}"
            command = [str(ROOT / "bench" / "profiled.py"), str(variant.profile_out), *command[1:]]
        log = (tmp / f"{variant.name}-{name}.log").open("w")
        procs.append(
            subprocess.Popen(
                [*prefix, sys.executable, *command],
                env=env,
                cwd=variant.tree,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    variant.port = ports["gateway"]
    variant.pid = procs[-1].pid
    try:
        asyncio.run(_ready(variant.port, tmp / f"{variant.name}-gateway.log"))
        yield variant
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _ready(port: int, log: Path, within_s: float = 300) -> None:
    """Until one chat completion through the gateway succeeds."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            await _drive(port, 1, 1)
            return
        except (OSError, AssertionError, asyncio.IncompleteReadError):
            if time.monotonic() > deadline:
                print(await asyncio.to_thread(log.read_text), file=sys.stderr)
                raise
            await asyncio.sleep(0.3)


_REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
    b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


async def _drive(port: int, count: int, concurrency: int) -> list[float]:
    """``count`` requests over ``concurrency`` keep-alive connections; latencies in ms."""
    remaining = count
    latencies: list[float] = []

    async def connection() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                writer.write(_REQUEST)
                head = await reader.readuntil(b"\r\n\r\n")
                status = head[9:12]
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                assert status == b"200", (head, body)
                assert b"Hello" in body, body
                latencies.append((time.perf_counter() - start) * 1000)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies


def _callgrind(variant: Variant, command: str) -> int:
    """``callgrind_control <command>`` on the gateway; after a dump, its total Ir."""
    command_line = ["callgrind_control", command, str(variant.pid)]
    subprocess.run(command_line, check=True, capture_output=True)
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
    import pstats

    assert variant.profile_out is not None
    done = Path(str(variant.profile_out) + ".done")
    done.unlink(missing_ok=True)
    os.kill(variant.pid, signal.SIGUSR2)
    while not done.exists():
        time.sleep(0.05)
    kept = variant.profile_out.with_name(f"{variant.profile_out.name}-{name}")
    variant.profile_out.rename(kept)
    return int(pstats.Stats(str(kept)).total_calls)  # type: ignore[attr-defined]


def measure(variant: Variant, args: argparse.Namespace, count: int, record: bool = True) -> None:
    """One round on ``variant``."""
    row: dict[str, float] = {"load1": load1()}
    if variant.callgrind_out:
        _callgrind(variant, "--instr=on")
        _callgrind(variant, "--zero")
    if variant.profile_out:
        os.kill(variant.pid, signal.SIGUSR1)
    before = cpu_seconds(variant.pid)
    wall = time.perf_counter()
    latencies = asyncio.run(_drive(variant.port, count, args.concurrency))
    wall = time.perf_counter() - wall
    after = cpu_seconds(variant.pid)
    if variant.callgrind_out:
        row["kIr"] = _callgrind(variant, "--dump") / count / 1000
    if variant.profile_out:
        name = str(len(variant.rounds)) if record else "warmup"
        row["pycalls"] = _profile(variant, name) / count
    user, system = after[0] - before[0], after[1] - before[1]
    row["cpu_ms"] = (user + system) / count * 1000
    row["sys_ms"] = system / count * 1000
    row["p50_ms"] = statistics.median(latencies)
    row["per_s"] = count / wall
    if record:
        variant.rounds.append(row)
        shown = "  ".join(f"{k}={v:.3f}" for k, v in row.items())
        print(f"{variant.name:>8}: {shown}", file=sys.stderr, flush=True)


def table(variants: list[Variant]) -> str:
    """Markdown: one row per measure, ``mean ± stdev (n)`` per variant."""
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
    parser.add_argument("--variant", action="append", required=True, type=parse_variant)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--router", choices=("floor", "product"), default="floor")
    parser.add_argument("--extra-path", action="append", default=[], help="PYTHONPATH entry")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--callgrind", type=Path, help="valgrind the gateways; keep dumps here")
    parser.add_argument("--profile", type=Path, help="cProfile the product gateways per round")
    parser.add_argument(
        "--env", action="append", default=[], help="NAME:VAR=VALUE for variant NAME only"
    )
    args = parser.parse_args()
    by_name = {v.name: v for v in args.variant}
    for spec in args.env:
        name, _, assignment = spec.partition(":")
        key, equals, value = assignment.partition("=")
        if name not in by_name or not equals:
            raise SystemExit(f"bad --env {spec!r}: NAME:VAR=VALUE for a --variant NAME")
        by_name[name].env[key] = value
    for keep in (args.profile, args.callgrind):
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
    variants: list[Variant] = args.variant
    with tempfile.TemporaryDirectory(prefix="gateway-ab-") as tmp, ExitStack() as stack:
        for variant in variants:
            stack.enter_context(started(variant, Path(tmp), args))
        for variant in variants:
            measure(variant, args, args.warmup, record=False)
        for _ in range(args.rounds):
            for variant in variants:
                measure(variant, args, args.requests)
    text = table(variants)
    print(text)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    v.name: {"kind": v.kind, "tree": str(v.tree), "server": v.server}
                    | {"rounds": v.rounds}
                    for v in variants
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
