"""A crashed router replica costs no client error and no double billing.

The gateway spreads calls over two router processes; one gets SIGKILL. Calls that had not been
answered by it (no response headers yet) are retried by gRPC on the other replica, so clients
see only answers. The killed replica never recorded usage for them (an attempt's record is
written when it ends), so once it restarts and ships its outbox, the ledger bills every
answered request exactly once. One stack, scenarios one after another: an idle kill, an error
the router answers with itself (never retried), a kill under mixed traffic, then an unstaged
kill while streams are being relayed: the gateway resumes each on the other replica, whose
model continues the text the client already has (continue_final_message), so every client of
the official ``openai`` SDK reads the whole answer, once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import signal
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai

from tests.fakes import Behavior, FakeUpstream, running_upstream

from .stack import (
    Service,
    Stack,
    gateway_section,
    metrics_section,
    router_section,
    scaled,
    stack,
    wait_usage,
)

KEY = "sk-reliability-replica-kill-0123456789"
CONCURRENCY = 8
LOAD_S = scaled(4.0, 30.0)
KILL_AT_S = 1.5
UPSTREAM_LATENCY_S = 0.1
# A prompt over gRPC's default retry buffer (256 KiB): such a call is retried only because the
# gateway keeps up to max_body_bytes per call for a retry.
BIG = "word " * 60_000
# The unstaged kill: streams of 60 chunks, STREAM_CHUNK_DELAY_S apart, the same text on both
# replicas' (Anthropic-kind) model "c", so a resumed answer can be checked exactly.
WORDS = " ".join(f"w{i:02d}" for i in range(60))
STREAM_CHUNK_DELAY_S = 0.02
STREAMERS = 6
STREAM_LOAD_S = scaled(3.0, 20.0)


def replica(name: str, base_url: str) -> str:
    return f"""default_chain = ["m", "bad"]
[[router.providers]]
name = "up-{name}"
kind = "openai"
base_url = "{base_url}/v1"
[[router.models]]
name = "m"
provider = "up-{name}"
upstream_model = "m-{name}"
context_window = 1000000
input_price_per_million = 1.0
output_price_per_million = 2.0
[[router.models]]
name = "bad"
provider = "up-{name}"
upstream_model = "bad-{name}"
[[router.providers]]
name = "claude-{name}"
kind = "anthropic"
base_url = "{base_url}"
api_key_env = "LLMROUTER_TEST_CLAUDE_KEY"
[[router.models]]
name = "c"
provider = "claude-{name}"
upstream_model = "c-{name}"
"""


@dataclass
class Answer:
    status: int
    complete: bool
    request_id: str
    provider: str


async def ask(
    http: httpx.AsyncClient, streamed: bool, model: str = "m", content: str = "hi"
) -> Answer:
    """One chat request through the gateway, read to its end."""
    body = {"model": model, "stream": streamed, "messages": [{"role": "user", "content": content}]}
    async with http.stream("POST", "/v1/chat/completions", json=body) as reply:
        text = (await reply.aread()).decode()
    if streamed:
        lines = [line for line in text.splitlines() if line]
        complete = bool(lines) and lines[-1] == "data: [DONE]" and '"error"' not in text
    else:
        complete = reply.status_code == 200 and '"choices"' in text
    return Answer(
        reply.status_code,
        complete,
        reply.headers.get("x-request-id", ""),
        reply.headers.get("x-llmrouter-provider", ""),
    )


async def start_replica(
    s: Stack, tmp: Path, name: str, metrics_port: int, base_url: str, port: int = 0
) -> Service:
    section = router_section(tmp, name, metrics_port, replica(name, base_url))
    return await s.start(name, "router", section, port=port)


async def until_both_serve(http: httpx.AsyncClient) -> list[Answer]:
    """Ask until both replicas have answered (the gateway's round robin uses both)."""
    answers: list[Answer] = []
    async with asyncio.timeout(20):
        while {a.provider for a in answers} != {"up-r1", "up-r2"}:
            answers.append(await ask(http, streamed=False))
            assert answers[-1].complete, answers[-1]
    return answers


async def test_sigkill_of_one_replica_costs_no_client_error(tmp_path: Path) -> None:
    async with running_upstream() as upstream:
        upstream.set(None, Behavior(delay_s=UPSTREAM_LATENCY_S, chunks=4))
        for name in ("bad-r1", "bad-r2"):
            upstream.set(name, Behavior(status=503))
        env = {
            "LLMROUTER_GATEWAY_API_KEYS": f"ci:{KEY}",
            "LLMROUTER_TEST_CLAUDE_KEY": "test-key-not-secret",
        }
        async with stack(tmp_path, env) as s:
            metrics = await s.start("metrics", "metrics", metrics_section(tmp_path))
            r1 = await start_replica(s, tmp_path, "r1", metrics.port, upstream.base_url)
            r2 = await start_replica(s, tmp_path, "r2", metrics.port, upstream.base_url)
            await s.start("gateway", "gateway", gateway_section([r1.port, r2.port], metrics.port))
            async with httpx.AsyncClient(
                base_url=s.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30
            ) as http:
                answered = await until_both_serve(http)

                # 1. Idle: SIGKILL r1 and, without waiting, send requests; round robin picks
                # r1 for some while the gateway has not yet seen it go. Every one is answered
                # (by r2).
                r1.process.send_signal(signal.SIGKILL)
                after_kill = await asyncio.gather(*(ask(http, n % 2 == 1) for n in range(6)))
                assert all(a.complete for a in after_kill), after_kill
                assert {a.provider for a in after_kill} == {"up-r2"}
                answered += after_kill
                await r1.stop()

                # 2. An UNAVAILABLE the router answers with itself (every attempt failed) is
                # not retried on another replica: the upstream sees one replica's attempts.
                r1 = await start_replica(
                    s, tmp_path, "r1", metrics.port, upstream.base_url, port=r1.port
                )
                answered += await until_both_serve(http)
                before = len(upstream.requests)
                refused = await ask(http, streamed=False, model="bad")
                assert refused.status == 503, refused
                tried = [r.model for r in upstream.requests[before:]]
                assert len(set(tried)) == 1, tried

                # 3. Under traffic (answers and streams, ~100 ms upstream latency): SIGKILL r1
                # while calls are in flight on it, all waiting for their upstream.
                loaded, errors, held_from = await traffic(http, r1, upstream)
                answered += loaded
                in_flight = [
                    r for r in upstream.requests if r.model == "m-r1" and r.time > held_from
                ]

            # The killed replica restarts and ships what its outbox holds.
            r1 = await start_replica(
                s, tmp_path, "r1", metrics.port, upstream.base_url, port=r1.port
            )
            good = [a for a in answered if a.complete]
            await wait_usage(s.metrics_db, len(good))
            await asyncio.sleep(1.0)  # anything billed twice would arrive by now too
            rows = await wait_usage(s.metrics_db, len(good))

            # 4. Unstaged: streams of the Anthropic-kind model are relayed by both replicas
            # all the time; r2 gets SIGKILL at a random moment, nothing held.
            for name in ("c-r1", "c-r2"):
                upstream.set(
                    name, Behavior(text=WORDS, chunks=60, chunk_delay_s=STREAM_CHUNK_DELAY_S)
                )
            async with httpx.AsyncClient(
                base_url=s.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30
            ) as http:
                await until_both_serve(http)
            streams, stream_errors, killed_at = await streaming_traffic(s.url, r2)
            # The killed replica restarts and ships its outbox (streams it finished just
            # before the kill); then each stream's ledger rows, by its X-Request-Id.
            await start_replica(s, tmp_path, "r2", metrics.port, upstream.base_url, port=r2.port)
            stream_rows = await wait_stream_rows(s.metrics_db, len(streams))

    failed = [a for a in loaded if not a.complete]
    assert not errors, errors[:3]
    assert not failed, failed[:3]
    assert {a.provider for a in loaded} == {"up-r1", "up-r2"}  # r1 served until killed
    assert in_flight  # calls r1 had sent upstream when killed: all answered by r2
    assert any(BIG in json.dumps(r.json) for r in in_flight)  # a large one among them
    billed = Counter(row[0].rsplit(":", 1)[0] for row in rows if row[1] == "succeeded")
    assert billed == Counter(a.request_id for a in good)  # each answered request once
    resumed = [t for t in streams if t.provider == "claude-r2" and t.ended > killed_at]
    print(
        f"\nunstaged kill: {len(streams)} streams, {len(resumed)} relaying from r2 at SIGKILL "
        f"(resumed on r1), longest pause in a resumed stream "
        f"{max((t.gap for t in resumed), default=0.0):.3f} s, client errors: {len(stream_errors)}"
    )
    assert not stream_errors, stream_errors[:3]
    assert resumed  # streams were mid-relay on the killed replica
    wrong = [t for t in streams if t.text != WORDS or t.finish != "stop" or len(t.ids) != 1]
    assert not wrong, wrong[:3]
    assert all(t.usage is not None for t in streams)  # one usage chunk each
    # Billed once each: the dead replica never recorded the attempt it was relaying, the
    # replica that resumed it did.
    succeeded = [
        (label, provider) for label, provider, status in stream_rows if status == "succeeded"
    ]
    assert Counter(label for label, _ in succeeded) == Counter(t.label for t in streams)
    by_label = dict(succeeded)
    # A stream r2 finished (its record on file) in the instant before the SIGKILL took effect
    # counts as "ended after the kill" on the client's clock but is billed by r2, once; the
    # streams r2 was still relaying were resumed and billed by r1.
    assert {by_label[t.label] for t in resumed} <= {"claude-r1", "claude-r2"}
    assert any(by_label[t.label] == "claude-r1" for t in resumed)
    print(
        f"\nreplica kill: {len(loaded)} requests under traffic, "
        f"{sum(a.provider == 'up-r1' for a in loaded)} answered by r1 before SIGKILL, "
        f"{len(in_flight)} in flight on r1 at SIGKILL (retried on r2), "
        f"client errors: {len(errors) + len(failed)}; ledger: {sum(billed.values())} billed "
        f"answers for {len(good)} answered requests"
    )


async def traffic(
    http: httpx.AsyncClient, victim: Service, upstream: FakeUpstream
) -> tuple[list[Answer], list[str], float]:
    """CONCURRENCY clients (half streaming) for LOAD_S seconds; SIGKILL ``victim`` after
    KILL_AT_S. The answers, the errors raised on the client side, and the monotonic time from
    which the victim's calls were held upstream until the kill."""
    answers: list[Answer] = []
    errors: list[str] = []
    loop = asyncio.get_running_loop()
    began = loop.time()
    held_from = 0.0

    async def client(streamed: bool, content: str = "hi") -> None:
        while loop.time() - began < LOAD_S:
            try:
                answers.append(await ask(http, streamed, content=content))
            except httpx.HTTPError as exc:
                errors.append(repr(exc))

    async def kill() -> None:
        nonlocal held_from
        await asyncio.sleep(KILL_AT_S)
        # The guarantee covers calls not yet answered: a stream already relaying when its
        # replica dies ends with an error (README). So the victim's upstream answers are held
        # from now on; once those already under way are relayed, every call in flight on it
        # is waiting for its upstream, and the kill finds them there.
        held_from = time.monotonic()
        upstream.set("m-r1", Behavior(delay_s=5.0, chunks=4))
        await asyncio.sleep(UPSTREAM_LATENCY_S + 0.4)
        await victim.stop(signal.SIGKILL)

    await asyncio.gather(
        *(client(n % 2 == 1) for n in range(CONCURRENCY - 1)), client(False, BIG), kill()
    )
    return answers, errors, held_from


@dataclass
class Streamed:
    """One streamed answer as the ``openai`` SDK delivered it."""

    label: str
    text: str
    finish: str | None
    ids: set[str]
    provider: str
    usage: object
    began: float
    ended: float
    # The longest wait between two chunks (seconds): a resumption's cost to the client.
    gap: float


# Each stream's X-Request-Id, which its ledger rows carry as client_request_id.
LABELS = itertools.count()


async def ask_stream(
    client: openai.AsyncOpenAI, relaying: dict[str, str] | None = None
) -> Streamed:
    """One streamed request for model "c", read to its end (an in-band error raises).
    ``relaying`` holds, while the stream is read, its label -> the provider it started on."""
    began, label = time.monotonic(), f"stream-{next(LABELS)}"
    raw = await client.chat.completions.with_raw_response.create(
        extra_headers={"x-request-id": label},
        model="c",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    provider = raw.headers.get("x-llmrouter-provider", "")
    parts: list[str] = []
    finish, ids, usage = None, set(), None
    gap, last = 0.0, time.monotonic()
    if relaying is not None:
        relaying[label] = provider
    try:
        async for chunk in raw.parse():
            now = time.monotonic()
            gap, last = max(gap, now - last), now
            ids.add(chunk.id)
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
            usage = chunk.usage or usage
    finally:
        if relaying is not None:
            relaying.pop(label, None)
    ended = time.monotonic()
    return Streamed(label, "".join(parts), finish, ids, provider, usage, began, ended, gap)


async def streaming_traffic(url: str, victim: Service) -> tuple[list[Streamed], list[str], float]:
    """STREAMERS clients streaming for STREAM_LOAD_S seconds; ``victim`` gets SIGKILL at a
    random moment in the middle, once a stream is relaying from it (on a loaded machine a
    moment with none came up). The answers, the client errors, the monotonic kill time."""
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=30)
    streams: list[Streamed] = []
    errors: list[str] = []
    killed_at = 0.0
    loop = asyncio.get_running_loop()
    began = loop.time()
    relaying: dict[str, str] = {}

    async def streamer() -> None:
        while loop.time() - began < STREAM_LOAD_S:
            try:
                streams.append(await ask_stream(client, relaying))
            except openai.OpenAIError as exc:
                errors.append(repr(exc))

    async def kill() -> None:
        nonlocal killed_at
        await asyncio.sleep(random.uniform(1.0, STREAM_LOAD_S / 2))
        while "claude-r2" not in relaying.values() and loop.time() - began < STREAM_LOAD_S:  # noqa: ASYNC110 - polling
            await asyncio.sleep(0.005)
        killed_at = time.monotonic()
        await victim.stop(signal.SIGKILL)

    async with client:
        await asyncio.gather(*(streamer() for _ in range(STREAMERS)), kill())
    return streams, errors, killed_at


async def wait_stream_rows(db: Path, count: int) -> list[tuple[str, str, str]]:
    """(client_request_id, provider, status) of the streams' ledger rows, once ``count`` have
    succeeded and a second more has passed (anything billed twice would arrive by then)."""

    def rows() -> list[tuple[str, str, str]]:
        with sqlite3.connect(db) as conn:
            query = (
                "SELECT client_request_id, provider, status FROM usage_records"
                " WHERE client_request_id LIKE 'stream-%'"
            )
            return list(conn.execute(query))

    for _ in range(300):  # 30 s
        if sum(row[2] == "succeeded" for row in await asyncio.to_thread(rows)) >= count:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    return await asyncio.to_thread(rows)
