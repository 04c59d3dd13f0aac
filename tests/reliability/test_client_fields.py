"""Client fields that end up in the ledger are bounded: OpenAI's metadata limits (16 pairs, keys
up to 64 characters, string values up to 512) and caps on user, source, category and task_type,
through the real gateway (the ``openai`` SDK and raw HTTP) and straight to the router over gRPC.
A refused request reaches no upstream and adds no ledger row."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import openai
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from llmrouter.v1 import chat_pb2, router_service_pb2, router_service_pb2_grpc

from .stack import Stack, gateway_section, metrics_section, router_section, stack, wait_usage

KEY = "sk-fields-0123456789abcdef"
AUTH = {"authorization": f"Bearer {KEY}"}
HELLO = [{"role": "user", "content": "hi"}]

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fields_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("fields")
    async with stack(tmp, {"LLMROUTER_GATEWAY_API_KEYS": f"fields:{KEY}"}) as s:
        metrics = await s.start("metrics", "metrics", metrics_section(tmp))
        # The default simulated models: every served request is one ledger row.
        router = await s.start("router", "router", router_section(tmp, "r", metrics.port, ""))
        await s.start("gateway", "gateway", gateway_section([router.port], metrics.port))
        yield s


def sdk(s: Stack) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{s.url}/v1", api_key=KEY, max_retries=0)


async def refused(s: Stack, **fields: Any) -> dict[str, Any]:
    """The error body of a refused SDK call with these extra fields (400, else it fails)."""
    extra_body = fields.pop("extra_body", None)
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(s).chat.completions.create(
            model="auto", messages=HELLO, extra_body=extra_body, **fields
        )
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"
    return body


def pairs(count: int, key_len: int = 8, value_len: int = 8) -> dict[str, str]:
    return {f"{i:0{key_len}d}": "v" * value_len for i in range(count)}


def ledger(db: Path) -> list[tuple[str, str, dict[str, str]]]:
    """(source, category, metadata) of every row."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT source, category, metadata FROM usage_records").fetchall()
    return [(source, category, json.loads(meta or "{}")) for source, category, meta in rows]


async def test_openai_metadata_limits_through_the_sdk(fields_stack: Stack) -> None:
    s = fields_stack
    client = sdk(s)
    accepted = [pairs(16), {"k" * 64: "v"}, {"k": "v" * 512}, pairs(16, 64, 512)]
    for metadata in accepted:
        answer = await client.chat.completions.create(
            model="auto", messages=HELLO, metadata=metadata
        )
        assert answer.choices[0].message.content

    body = await refused(s, metadata=pairs(17))
    assert body["param"] == "metadata"
    assert body["code"] == "object_above_max_properties"
    assert "at most 16 properties" in body["message"]

    body = await refused(s, metadata={"k" * 65: "v"})
    assert body["param"] == "metadata"
    assert body["code"] == "string_above_max_length"
    assert "k" * 65 not in body["message"]

    body = await refused(s, metadata={"note": "v" * 513})
    assert body["param"] == "metadata.note"
    assert body["code"] == "string_above_max_length"
    assert "maximum length 512" in body["message"]

    # The reported attack: 10,000 keys. Refused, and nothing of it is stored.
    body = await refused(s, metadata=pairs(10_000))
    assert body["param"] == "metadata"

    rows = await wait_usage(s.metrics_db, len(accepted))
    assert len(rows) == len(accepted)
    stored = [meta for _, _, meta in ledger(s.metrics_db)]
    assert max(len(meta) for meta in stored) == 16
    assert max(len(key) for meta in stored for key in meta) == 64
    assert max(len(value) for meta in stored for value in meta.values()) == 512


async def test_non_string_metadata_values_are_refused_over_raw_http(fields_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=fields_stack.url, headers=AUTH, timeout=30) as http:
        for value, kind in ((1, "an integer"), ({"a": "b"}, "an object"), (True, "a boolean")):
            reply = await http.post(
                "/v1/chat/completions",
                json={"model": "auto", "messages": HELLO, "metadata": {"n": value}},
            )
            assert reply.status_code == 400, reply.text
            error = reply.json()["error"]
            assert error["param"] == "metadata.n"
            assert kind in error["message"]
        reply = await http.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": HELLO, "metadata": ["a", "b"]},
        )
        assert reply.status_code == 400
        assert reply.json()["error"]["param"] == "metadata"


@pytest.mark.parametrize(
    ("field", "cap", "param"),
    [
        ("source", 128, "llmrouter.source"),
        ("category", 64, "llmrouter.category"),
        ("task_type", 64, "llmrouter.task_type"),
    ],
)
async def test_llmrouter_text_fields_are_capped(
    fields_stack: Stack, field: str, cap: int, param: str
) -> None:
    s = fields_stack
    before = len(ledger(s.metrics_db)) if s.metrics_db.exists() else 0
    value = ("c" if field == "category" else "s") * cap
    answer = await sdk(s).chat.completions.create(
        model="auto", messages=HELLO, extra_body={"llmrouter": {field: value}}
    )
    assert answer.choices[0].message.content
    body = await refused(s, extra_body={"llmrouter": {field: value + "x"}})
    assert body["param"] == param
    assert body["code"] == "string_above_max_length"
    assert f"maximum length {cap}, but got a string with length {cap + 1}" in body["message"]

    rows = await wait_usage(s.metrics_db, before + 1)
    assert len(rows) == before + 1
    column = {"source": 0, "category": 1}.get(field)
    if column is not None:
        assert max(len(row[column]) for row in ledger(s.metrics_db)) == cap


async def test_the_cache_source_is_reserved(fields_stack: Stack) -> None:
    """The response cache labels its hits' rows with source "cache": a client may not."""
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(fields_stack).chat.completions.create(
            model="auto", messages=HELLO, extra_body={"llmrouter": {"source": "cache"}}
        )
    assert "reserved for the response cache" in str(caught.value)


async def test_source_header_and_user_are_capped(fields_stack: Stack) -> None:
    s = fields_stack
    client = sdk(s)
    before = len(ledger(s.metrics_db)) if s.metrics_db.exists() else 0
    await client.chat.completions.create(
        model="auto",
        messages=HELLO,
        user="u" * 256,
        extra_headers={"X-LLMRouter-Source": "h" * 128},
    )
    # Its record is awaited here: a record still on its way would be counted by the next test.
    assert len(await wait_usage(s.metrics_db, before + 1)) == before + 1
    body = await refused(s, user="u" * 257)
    assert body["param"] == "user"
    assert body["code"] == "string_above_max_length"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="auto", messages=HELLO, extra_headers={"X-LLMRouter-Source": "h" * 129}
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "X-LLMRouter-Source"


def _violation(exc: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return str(bad.field_violations[0].field)
    raise AssertionError("no BadRequest detail")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.metadata.update(pairs(17)), "chat.metadata"),
        (lambda c: c.metadata.update({"k" * 65: "v"}), "chat.metadata"),
        (lambda c: c.metadata.update({"note": "v" * 513}), "chat.metadata[note]"),
        (lambda c: setattr(c.caller, "source", "s" * 129), "chat.caller.source"),
        # Reserved for the response cache's rows: a caller's rows must not pass for hits.
        (lambda c: setattr(c.caller, "source", "cache"), "chat.caller.source"),
        (lambda c: setattr(c, "user", "u" * 257), "chat.user"),
        (lambda c: setattr(c.routing, "category", "c" * 65), "chat.routing.category"),
        (lambda c: setattr(c.routing, "task_type", "t" * 65), "chat.routing.task_type"),
    ],
)
async def test_the_router_refuses_the_same_over_grpc(
    fields_stack: Stack, change: Any, field: str
) -> None:
    """Internal services call the router directly: the same caps, INVALID_ARGUMENT naming the
    field, and nothing served or stored."""
    s = fields_stack
    before = len(ledger(s.metrics_db)) if s.metrics_db.exists() else 0
    chat = chat_pb2.ChatRequest(
        model="auto", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")]
    )
    change(chat)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{s.port('router')}") as channel:
        stub = router_service_pb2_grpc.RouterServiceStub(channel)
        for call in (
            stub.Complete(router_service_pb2.CompleteRequest(chat=chat), timeout=10),
            stub.Route(router_service_pb2.RouteRequest(chat=chat), timeout=10),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert _violation(caught.value) == field
        # At the cap, the same request is served.
        chat.metadata.clear()
        chat.metadata.update(pairs(16, 64, 512))
        chat.caller.source, chat.user = "s" * 128, "u" * 256
        chat.routing.category, chat.routing.task_type = "c" * 64, "t" * 64
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat), timeout=10)
    assert len(await wait_usage(s.metrics_db, before + 1)) == before + 1
