"""The fake upstream, driven by a real httpx.AsyncClient over real sockets."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes import Behavior, FakeUpstream, running_upstream

HELLO = [{"role": "user", "content": "Hello, how are you?"}]  # 19 chars -> 19 // 4 + 1 = 5
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {}}},
]
ANTHROPIC_HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
# Built once: loading the CA bundle costs ~50 ms per client, most of this module's run time.
TLS = ssl.create_default_context()


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with running_upstream() as server:
        yield server


@pytest.fixture
async def client(upstream: FakeUpstream) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=upstream.base_url, timeout=2.0, verify=TLS) as http:
        yield http


def openai(model: str = "gpt-test", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": HELLO, **extra}


def anthropic(model: str = "claude-test", **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 1024, "messages": HELLO, **extra}


async def sse_data(response: httpx.Response) -> list[str]:
    """The ``data:`` payloads of an SSE stream, in order."""
    return [line[6:] async for line in response.aiter_lines() if line.startswith("data: ")]


async def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event name, parsed data) pairs of a named-event SSE stream."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


# --- OpenAI -------------------------------------------------------------------------------


async def test_openai_reply(upstream: FakeUpstream, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", json=openai(), headers={"Authorization": "Bearer sk-test"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-test"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from gpt-test.",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == USAGE
    recorded = upstream.requests[0]
    assert (recorded.method, recorded.path, recorded.model) == (
        "POST",
        "/v1/chat/completions",
        "gpt-test",
    )
    assert recorded.headers["authorization"] == "Bearer sk-test"
    assert recorded.json == openai()


# API reference, "The chat completion object", usage: the detail objects always come.
USAGE = {
    "prompt_tokens": 5,
    "completion_tokens": 4,
    "total_tokens": 9,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


async def test_openai_stream_with_usage(client: httpx.AsyncClient) -> None:
    request = openai(stream=True, stream_options={"include_usage": True})
    async with client.stream("POST", "/chat/completions", json=request) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["transfer-encoding"] == "chunked"
        data = await sse_data(response)

    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = [c["choices"][0]["delta"].get("content") or "" for c in chunks[1:-2]]
    assert len(content) == 4
    assert "".join(content) == "Hello from gpt-test."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == USAGE


async def test_openai_stream_without_usage_has_no_usage_chunk(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/v1/chat/completions", json=openai(stream=True)) as response:
        data = await sse_data(response)

    chunks = [json.loads(item) for item in data[:-1]]
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)


async def test_openai_tool_call(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json=openai(tools=TOOLS))

    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


async def test_openai_tool_choice_names_the_tool_or_none(client: httpx.AsyncClient) -> None:
    named = {"type": "function", "function": {"name": "get_time"}}
    chosen = await client.post("/v1/chat/completions", json=openai(tools=TOOLS, tool_choice=named))
    refused = await client.post(
        "/v1/chat/completions", json=openai(tools=TOOLS, tool_choice="none")
    )

    assert chosen.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_time"
    assert refused.json()["choices"][0]["message"]["content"] == "Hello from gpt-test."


async def test_openai_tool_call_stream(client: httpx.AsyncClient) -> None:
    async with client.stream(
        "POST", "/v1/chat/completions", json=openai(tools=TOOLS, stream=True)
    ) as response:
        data = await sse_data(response)

    deltas = [json.loads(item)["choices"][0]["delta"] for item in data[:-2]]
    first = deltas[0]["tool_calls"][0]
    assert first["index"] == 0
    assert first["id"].startswith("call_")
    assert first["type"] == "function"
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [d["tool_calls"][0] for d in deltas[1:]]
    assert all(set(f) == {"index", "function"} for f in fragments)
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    assert json.loads(arguments) == {"city": "Paris"}
    assert json.loads(data[-2])["choices"][0]["finish_reason"] == "tool_calls"


async def test_openai_error_with_code_and_retry_after(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    upstream.set(None, Behavior(status=429, retry_after="1"))
    upstream.set(
        "small",
        Behavior(
            status=400,
            error_code="context_length_exceeded",
            error_message="maximum context length is 4096 tokens",
        ),
    )

    limited = await client.post("/v1/chat/completions", json=openai())
    too_long = await client.post("/v1/chat/completions", json=openai("small", stream=True))

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert too_long.status_code == 400
    assert "retry-after" not in too_long.headers
    assert too_long.json()["error"] == {
        "message": "maximum context length is 4096 tokens",
        "type": "invalid_request_error",
        "param": None,
        "code": "context_length_exceeded",
    }


async def test_max_tokens_truncates_text(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json=openai(max_tokens=2))

    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "Hello from"


# --- Anthropic ----------------------------------------------------------------------------


async def test_anthropic_reply_and_tool_use(client: httpx.AsyncClient) -> None:
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    text = await client.post("/v1/messages", json=anthropic(), headers=ANTHROPIC_HEADERS)
    tool = await client.post("/v1/messages", json=anthropic(tools=tools), headers=ANTHROPIC_HEADERS)

    body = text.json()
    assert (body["type"], body["role"], body["stop_reason"]) == ("message", "assistant", "end_turn")
    assert body["content"] == [{"type": "text", "text": "Hello from claude-test."}]
    assert body["usage"] == {
        "input_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 4,
    }
    (block,) = tool.json()["content"]
    assert block["type"] == "tool_use"
    assert block["id"].startswith("toolu_")
    assert (block["name"], block["input"]) == ("get_weather", {"city": "Paris"})
    assert tool.json()["stop_reason"] == "tool_use"


async def test_anthropic_checks_headers_and_max_tokens(client: httpx.AsyncClient) -> None:
    no_key = await client.post("/v1/messages", json=anthropic())
    no_version = await client.post(
        "/v1/messages", json=anthropic(), headers={"x-api-key": "test-key"}
    )
    no_max = await client.post(
        "/v1/messages", json={"model": "c", "messages": HELLO}, headers=ANTHROPIC_HEADERS
    )

    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert no_version.status_code == 400
    assert no_max.json()["error"]["type"] == "invalid_request_error"


async def test_anthropic_stream(client: httpx.AsyncClient) -> None:
    async with client.stream(
        "POST", "/v1/messages", json=anthropic(stream=True, max_tokens=3), headers=ANTHROPIC_HEADERS
    ) as response:
        events = await sse_events(response)

    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(name == data["type"] for name, data in events)
    assert events[0][1]["message"]["usage"]["input_tokens"] == 5
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    assert text == "Hello from claude-"
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"
    assert events[-2][1]["usage"] == {"output_tokens": 3}


async def test_anthropic_tool_stream(client: httpx.AsyncClient) -> None:
    request = anthropic(stream=True, tools=[{"name": "get_weather", "input_schema": {}}])
    async with client.stream(
        "POST", "/v1/messages", json=request, headers=ANTHROPIC_HEADERS
    ) as response:
        events = await sse_events(response)

    start = next(data for name, data in events if name == "content_block_start")
    assert start["content_block"]["type"] == "tool_use"
    assert start["content_block"]["input"] == {}
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    assert json.loads("".join(d["partial_json"] for d in deltas)) == {"city": "Paris"}


async def test_anthropic_overloaded(upstream: FakeUpstream, client: httpx.AsyncClient) -> None:
    upstream.set("claude-test", Behavior(status=529))

    response = await client.post("/v1/messages", json=anthropic(), headers=ANTHROPIC_HEADERS)

    assert response.status_code == 529
    assert response.json()["type"] == "error"
    assert response.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}


# --- Ollama -------------------------------------------------------------------------------


async def test_ollama_streams_ndjson_by_default(client: httpx.AsyncClient) -> None:
    request = {"model": "llama3", "messages": HELLO}
    async with client.stream("POST", "/api/chat", json=request) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) async for line in response.aiter_lines() if line]

    assert [line["done"] for line in lines] == [False] * 4 + [True]
    assert "".join(line["message"]["content"] for line in lines) == "Hello from llama3."
    final = lines[-1]
    assert (final["done_reason"], final["prompt_eval_count"], final["eval_count"]) == ("stop", 5, 4)


async def test_ollama_reply_with_tool_call(client: httpx.AsyncClient) -> None:
    request = {"model": "llama3", "messages": HELLO, "stream": False, "tools": TOOLS}
    response = await client.post("/api/chat", json=request)

    body = response.json()
    assert body["done"] is True
    assert body["message"]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ]


async def test_ollama_error_shape(upstream: FakeUpstream, client: httpx.AsyncClient) -> None:
    upstream.set(None, Behavior(status=500, error_message="model crashed"))

    response = await client.post("/api/chat", json={"model": "llama3", "messages": HELLO})

    assert response.status_code == 500
    assert response.json() == {"error": "model crashed"}


# --- misbehaviour -------------------------------------------------------------------------


async def test_malformed_reply_and_stream(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    upstream.set(None, Behavior(malformed=True))

    reply = await client.post("/v1/chat/completions", json=openai())
    async with client.stream("POST", "/v1/chat/completions", json=openai(stream=True)) as response:
        data = await sse_data(response)

    assert reply.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    with pytest.raises(json.JSONDecodeError):
        json.loads(data[1])
    assert data[-1] == "[DONE]"


def piece_of(line: str) -> str:
    """The content piece a stream line carries in any of the three formats ("" if none)."""
    payload = line.removeprefix("data: ")
    if not payload.startswith("{"):
        return ""
    data = json.loads(payload)
    if data.get("object") == "chat.completion.chunk":
        return str(data["choices"][0]["delta"].get("content") or "") if data["choices"] else ""
    if data.get("type") == "content_block_delta":
        return str(data["delta"]["text"])
    return str(data["message"]["content"]) if "done" in data else ""


async def read_lines(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    into: list[str],
) -> None:
    async with client.stream("POST", path, json=body, headers=headers) as response:
        async for line in response.aiter_lines():
            into.append(line)


@pytest.mark.parametrize(
    ("path", "request_body", "headers", "expected"),
    [
        ("/v1/chat/completions", openai(stream=True), {}, "Hello from"),
        ("/v1/messages", anthropic(stream=True), ANTHROPIC_HEADERS, "Hello from c"),
        ("/api/chat", {"model": "m", "messages": HELLO}, {}, "Hello f"),
    ],
)
async def test_cut_after_breaks_the_stream_before_the_end(
    upstream: FakeUpstream,
    client: httpx.AsyncClient,
    path: str,
    request_body: dict[str, Any],
    headers: dict[str, str],
    expected: str,
) -> None:
    upstream.set(None, Behavior(cut_after=2))
    lines: list[str] = []

    with pytest.raises(httpx.RemoteProtocolError):
        await read_lines(client, path, request_body, headers, lines)

    pieces = [piece for piece in map(piece_of, lines) if piece]
    assert len(pieces) == 2
    assert "".join(pieces) == expected
    received = "\n".join(lines)
    for marker in ("[DONE]", 'finish_reason":"stop', "message_stop", '"done":true'):
        assert marker not in received
    assert upstream.disconnects == 0


async def test_cut_after_truncates_a_plain_reply(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    upstream.set(None, Behavior(cut_after=0))

    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/v1/chat/completions", json=openai())


async def test_stall_then_client_timeout_counts_a_disconnect(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    upstream.set(None, Behavior(stall=True))

    with pytest.raises(httpx.ReadTimeout):
        await client.post("/v1/chat/completions", json=openai(), timeout=0.2)

    await upstream.wait_disconnects(1, within_s=1.0)
    assert upstream.disconnects == 1


async def test_client_leaving_a_slow_stream_counts_a_disconnect(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    upstream.set(None, Behavior(chunks=10, chunk_delay_s=0.05))

    async with client.stream("POST", "/v1/chat/completions", json=openai(stream=True)) as response:
        async for line in response.aiter_lines():
            if '"content":"H' in line:
                break

    await upstream.wait_disconnects(1, within_s=1.0)


async def test_delays(upstream: FakeUpstream, client: httpx.AsyncClient) -> None:
    upstream.set("slow", Behavior(delay_s=0.15))
    upstream.set("late", Behavior(first_chunk_delay_s=0.15))

    started = time.monotonic()
    await client.post("/v1/chat/completions", json=openai("slow"))
    delayed = time.monotonic() - started
    async with client.stream("POST", "/v1/chat/completions", json=openai("late", stream=True)) as r:
        headers_at = time.monotonic() - started - delayed
        await r.aread()
        first_at = time.monotonic() - started - delayed

    assert delayed >= 0.15
    assert headers_at < 0.1
    assert first_at >= 0.15


async def test_set_queues_behaviors_and_the_last_repeats(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    upstream.set("flaky", Behavior(status=503), Behavior(status=500), Behavior())
    upstream.set(None, Behavior(status=429))

    flaky = [
        (await client.post("/v1/chat/completions", json=openai("flaky"))).status_code
        for _ in range(4)
    ]
    other = (await client.post("/v1/chat/completions", json=openai("other"))).status_code
    upstream.set("flaky")
    cleared = (await client.post("/v1/chat/completions", json=openai("flaky"))).status_code

    assert flaky == [503, 500, 200, 200]
    assert other == 429
    assert cleared == 429
    assert (upstream.calls("flaky"), upstream.calls("other"), upstream.calls("nobody")) == (5, 1, 0)


# --- the server itself --------------------------------------------------------------------


async def test_keep_alive_reuses_one_connection(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    await client.post("/v1/chat/completions", json=openai())
    async with client.stream("POST", "/v1/chat/completions", json=openai(stream=True)) as r:
        await r.aread()
    await client.post("/v1/messages", json=anthropic(), headers=ANTHROPIC_HEADERS)
    await client.get("/v1/models")

    assert len(upstream.requests) == 4
    assert upstream.connections == 1


async def test_concurrent_requests_are_served_in_parallel(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    upstream.set(None, Behavior(delay_s=0.2))

    started = time.monotonic()
    responses = await asyncio.gather(
        *(client.post("/v1/chat/completions", json=openai(f"m{i}")) for i in range(10))
    )

    assert [r.status_code for r in responses] == [200] * 10
    assert time.monotonic() - started < 0.6


async def test_chunked_request_body(client: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield json.dumps(openai())[:10].encode()
        yield json.dumps(openai())[10:].encode()

    response = await client.post("/v1/chat/completions", content=body())

    assert response.json()["choices"][0]["message"]["content"] == "Hello from gpt-test."


async def test_model_listings_and_unknown_paths(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    upstream.set("gpt-test", Behavior())

    models = await client.get("/v1/models")
    tags = await client.get("/api/tags")
    missing = await client.post("/v1/nothing", json={})
    wrong_methods = [
        (await client.get("/v1/chat/completions")).status_code,
        (await client.post("/api/tags", json={})).status_code,
    ]

    assert models.json()["object"] == "list"
    assert {m["id"] for m in models.json()["data"]} == {"fake-model", "gpt-test"}
    assert {m["name"] for m in tags.json()["models"]} == {"fake-model", "gpt-test"}
    assert missing.status_code == 404
    assert wrong_methods == [405, 405]


async def test_stop_drops_stalled_connections_promptly() -> None:
    upstream = FakeUpstream()
    await upstream.start()
    upstream.set(None, Behavior(stall=True))
    async with httpx.AsyncClient(base_url=upstream.base_url, timeout=5.0, verify=TLS) as http:
        pending = asyncio.create_task(http.post("/v1/chat/completions", json=openai()))
        await upstream.wait_requests(1)

        started = time.monotonic()
        await upstream.stop()
        with pytest.raises(httpx.RemoteProtocolError):
            await pending

    assert time.monotonic() - started < 0.5
    assert upstream.disconnects == 0
