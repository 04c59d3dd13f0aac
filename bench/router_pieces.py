"""The router's per-request cost, piece by piece, in one process (companion of router_ab.py).

Run with ``PYTHONPATH`` set to the tree to measure (this file imports only what trees before
and after issue 14 share). Starts the router in-process (``router_svc.server.start``) against
a Node.js upstream (``bench/upstream.js``), usage shipped to an address nobody listens on (the
outbox keeps the records), then times, sequentially, in CPU microseconds per call (min of
``--repeat`` batches):

* ``chat_from_proto``: the request's conversion;
* ``provider``: one upstream call through the provider adapter;
* ``engine``: ``Engine.complete`` (schedule, attempt, outcome, usage event, provider call);
* ``handler``: ``RouterServicer.Complete`` without gRPC (conversion, engine, response);
* ``floor``: the floor router's Complete (``bench/floor/router.py``) without gRPC, the same
  upstream call and nothing else: ``handler - floor`` is what routing adds.

With ``--callgrind`` (under ``valgrind --tool=callgrind --instr-atstart=no``), thousands of
instructions per call instead: the same on a busy machine as on an idle one.

    PYTHONPATH=/work/wt-old:/work/wt-old/protos .venv/bin/python bench/router_pieces.py
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import json
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from llmrouter.v1 import chat_pb2, router_service_pb2

ROOT = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Context:
    """The part of grpc.aio.ServicerContext the Complete handler uses on success."""

    def time_remaining(self) -> float:
        return 30.0

    async def send_initial_metadata(self, metadata: Any) -> None:
        return None


async def _listening(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise RuntimeError("upstream not listening")


def _callgrind(command: str, keep_as: str = "") -> int:
    """``callgrind_control command`` on this process; after a dump, the dump's total Ir (the
    dump is kept as ``callgrind.out.<keep_as>``, for callgrind_annotate)."""
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", command, pid], check=True, capture_output=True)
    if command != "--dump":
        return 0
    newest = max(Path(".").glob(f"callgrind.out.{pid}*"), key=lambda p: p.stat().st_mtime_ns)
    for line in newest.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            newest.rename(f"callgrind.out.{keep_as}")
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {newest}")


async def _per_call(
    call: Callable[[], Awaitable[Any]],
    count: int,
    repeat: int,
    callgrind: str = "",
    profile: str = "",
) -> float:
    if profile:  # Python calls per call; the stats kept as ``<profile>.pstats``
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(count):
            await call()
        profiler.disable()
        profiler.dump_stats(f"{profile}.pstats")
        return pstats.Stats(profiler).total_calls / count  # type: ignore[attr-defined,no-any-return]
    if callgrind:  # thousands of instructions per call, counted (one batch)
        _callgrind("--instr=on")
        _callgrind("--zero")
        for _ in range(count):
            await call()
        return _callgrind("--dump", callgrind) / count / 1000
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(count):
            await call()
        best = min(best, (time.process_time() - start) / count * 1e6)
    return best


def _floor_router(base_url: str) -> Any:
    """``bench/floor/router.py``'s servicer, posting to ``base_url``."""
    path = ROOT / "bench" / "floor" / "router.py"
    spec = importlib.util.spec_from_file_location("floor_router", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FloorRouter(base_url)


async def main(count: int, repeat: int, callgrind: bool, profile: bool) -> dict[str, float]:
    """The pieces' CPU microseconds per call."""
    import router_svc
    from router_svc.config import load_config
    from router_svc.server import start
    from router_svc.servicer import RouterServicer

    # Decided by the tree's files: the editable install could supply a module a tree lacks.
    before_14 = (Path(router_svc.__file__).parent / "convert.py").exists()
    if before_14:
        from router_svc.convert import chat_from_proto  # type: ignore[import-not-found]
    else:
        from router_svc.translate import chat_from_proto

    upstream_port = _port()
    upstream = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
        ["node", str(ROOT / "bench" / "upstream.js"), str(upstream_port)],
        stdout=subprocess.DEVNULL,
    )
    with tempfile.TemporaryDirectory(prefix="router-pieces-") as tmp:
        config = Path(tmp) / "router.toml"
        config.write_text(
            f"""
[router]
port = 0
prometheus_port = 0
metrics_address = "127.0.0.1:{_port()}"
outbox_path = "{tmp}/outbox.sqlite3"
state_path = "{tmp}/state.json"
default_chain = ["fast"]
allowed_private_hosts = ["127.0.0.1"]
[[router.providers]]
name = "bench"
kind = "openai"
base_url = "http://127.0.0.1:{upstream_port}/v1"
[[router.models]]
name = "fast"
provider = "bench"
upstream_model = "bench-0"
"""
        )
        await _listening(upstream_port)
        running = await start(load_config(str(config)))
        try:
            pb = chat_pb2.ChatRequest(
                model="fast",
                messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="Say hello.")],
            )
            chat = chat_from_proto(pb)
            entry = running.registry.get("fast")
            assert entry is not None
            provider = entry.provider
            if before_14:

                def upstream_call() -> Awaitable[Any]:
                    return provider.complete("bench-0", chat, 30.0)  # type: ignore[call-arg]
            else:
                from router_svc.providers import ProviderCall

                def upstream_call() -> Awaitable[Any]:
                    return provider.complete(ProviderCall("bench-0", chat, 30.0))

            engine = running.engine
            servicer = RouterServicer(running.registry, engine._policy, engine, 30.0)
            request = router_service_pb2.CompleteRequest(chat=pb)
            context: Any = _Context()

            async def convert() -> None:
                chat_from_proto(pb)

            floor = _floor_router(f"http://127.0.0.1:{upstream_port}/v1")
            pieces: dict[str, Callable[[], Awaitable[Any]]] = {
                "chat_from_proto": convert,
                "provider": upstream_call,
                "engine": lambda: engine.complete(chat, time.monotonic() + 30),
                "handler": lambda: servicer.Complete(request, context),
                "floor": lambda: floor.Complete(request, context),
            }
            for call in pieces.values():  # warm-up
                await _per_call(call, count // 4, 1)
            return {
                name: await _per_call(
                    call, count, repeat, name if callgrind else "", name if profile else ""
                )
                for name, call in pieces.items()
            }
        finally:
            await running.stop()  # type: ignore[attr-defined]
            upstream.terminate()
            upstream.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count instructions instead (kIr per call): run under "
        "valgrind --tool=callgrind --instr-atstart=no, from a scratch directory",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Python calls per call instead; cProfile stats kept as <piece>.pstats",
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.count, args.repeat, args.callgrind, args.profile))))
    sys.exit(0)
