"""The routing engine's and the servicer's parts, one by one, in one process (beside
``router_pieces.py``, which splits the cost by layer around a real upstream call).

Starts the router in-process (``router_svc.server.start``, usage recorded to a local outbox
file, shipped to an address nobody listens on) and gives its model a provider that answers at
once, so that only the router's own work is counted. Then measures, sequentially, per call:

* ``convert``: ``chat_from_proto`` of a one-message request;
* ``decide``, ``request_id``, ``start`` (decision, id, schedule), ``start_next`` (and the first
  attempt planned);
* ``attempt``: an attempt started and settled (span, breaker, health, budget, metrics, the
  usage event built and queued); ``usage_event`` alone; ``attempt_durable``: and the
  durability barrier (the group commit of its record);
* ``to_record`` (the record serialised), ``append_nowait`` (one row committed to the file);
* ``complete_response`` (and ``response_bytesize``: with the size check);
* ``engine_instant``: ``Engine.complete``; ``handler_instant``: ``RouterServicer.Complete``.

CPU microseconds per call (min of 5 batches), or with ``--callgrind`` (under
``valgrind --tool=callgrind --instr-atstart=no``, from a scratch directory) thousands of
instructions per call. Reaches into the engine's parts: written for the tree it is in.

    PYTHONPATH=. .venv/bin/python bench/router_parts.py [--callgrind] [--only a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import router_pieces

from llmrouter.request_ids import new_request_id
from llmrouter.v1 import chat_pb2, router_service_pb2


class _Instant:
    """The model's provider, answering every call at once with ``answer``."""

    def __init__(self, real: Any, answer: Any) -> None:
        self._real = real
        self._answer = answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def complete(self, call: Any) -> Any:
        return self._answer


async def main(count: int, callgrind: bool, only: set[str]) -> dict[str, float]:
    """Each part's cost per call."""
    from router_svc.chat import Completion, TokenUsage
    from router_svc.config import load_config
    from router_svc.routing.outcome import Success, usage_event
    from router_svc.server import start
    from router_svc.servicer import RouterServicer
    from router_svc.translate import chat_from_proto, complete_response
    from router_svc.usage import to_record

    with tempfile.TemporaryDirectory(prefix="router-parts-") as tmp:
        config = Path(tmp) / "router.toml"
        config.write_text(
            f"""
[router]
port = 0
prometheus_port = 0
metrics_address = "127.0.0.1:{router_pieces._port()}"
outbox_path = "{tmp}/outbox.sqlite3"
state_path = "{tmp}/state.json"
default_chain = ["fast"]
allowed_private_hosts = ["127.0.0.1"]
[[router.providers]]
name = "bench"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[router.models]]
name = "fast"
provider = "bench"
upstream_model = "bench-0"
"""
        )
        running = await start(load_config(str(config)))
        try:
            entry = running.registry.get("fast")
            assert entry is not None
            usage = TokenUsage(12, 8)
            answer = Completion("Hello there, how can I help?", (), "stop", usage, "bench-0")
            entry.provider = _Instant(entry.provider, answer)  # type: ignore[assignment]
            pb = chat_pb2.ChatRequest(
                model="fast",
                messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="Say hello.")],
            )
            chat = chat_from_proto(pb)
            engine = running.engine
            policy = engine._policy
            servicer = RouterServicer(running.registry, policy, engine, 30.0)
            request = router_service_pb2.CompleteRequest(chat=pb)
            context: Any = router_pieces._Context()
            served = await engine.complete(chat, time.monotonic() + 30)
            run = await engine._start(chat, False, time.monotonic() + 30)
            planned = await run.schedule.next()
            assert planned is not None
            success = Success(usage, 0.0, "stop", "bench-0", None)
            settled = engine._begin(run, planned)
            settled.succeeded(success)
            await engine._sinks.durable()
            event = usage_event(settled, time.time())
            row = [(event.id, to_record(event).SerializeToString())]
            store = running.outbox._store

            async def convert() -> None:
                chat_from_proto(pb)

            async def decide() -> None:
                await policy.decide(chat)

            async def request_id() -> None:
                new_request_id()

            async def start_run() -> None:
                await engine._start(chat, False, time.monotonic() + 30)

            async def start_next() -> None:
                started = await engine._start(chat, False, time.monotonic() + 30)
                await started.schedule.next()

            async def attempt() -> None:
                engine._begin(run, planned).succeeded(success)
                run.attempts.clear()

            async def attempt_durable() -> None:
                await attempt()
                await engine._sinks.durable()

            async def event_only() -> None:
                usage_event(settled, 1.0)

            async def record() -> None:
                to_record(event).SerializeToString()

            async def append() -> None:
                store.append_nowait(row)

            async def response() -> None:
                complete_response(served)

            async def response_checked() -> None:
                complete_response(served).ByteSize()

            parts: dict[str, Callable[[], Awaitable[Any]]] = {
                "convert": convert,
                "decide": decide,
                "request_id": request_id,
                "start": start_run,
                "start_next": start_next,
                "attempt": attempt,
                "attempt_durable": attempt_durable,
                "usage_event": event_only,
                "to_record": record,
                "append_nowait": append,
                "complete_response": response,
                "response_bytesize": response_checked,
                "engine_instant": lambda: engine.complete(chat, time.monotonic() + 30),
                "handler_instant": lambda: servicer.Complete(request, context),
            }
            results = {}
            for name, call in parts.items():
                if only and name not in only:
                    continue
                await router_pieces._per_call(call, count // 4, 1)  # warm-up
                results[name] = await router_pieces._per_call(
                    call, count, 5, name if callgrind else ""
                )
            return results
        finally:
            await running.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--callgrind", action="store_true", help="kIr per call (see above)")
    parser.add_argument("--only", default="", help="comma-separated part names")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    results = asyncio.run(main(args.count, args.callgrind, only))
    print(json.dumps({name: round(value, 2) for name, value in results.items()}))
