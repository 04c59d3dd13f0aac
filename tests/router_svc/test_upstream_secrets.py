"""An upstream error that quotes the key the router sent never carries it further: not to the
caller (gRPC status and details), not to exported spans, not to the usage record the ledger
stores. The error stays classified and keeps the rest of its message."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmrouter.v1 import chat_pb2, router_service_pb2
from router_svc.config import ProviderConfig, RetryConfig
from tests.fakes import Behavior, FakeUpstream

from .conftest import FakeMetrics, model, wait_for

# Not key-shaped, so only knowing what was sent finds them; "/", "+", "=" and "&" make their
# URL-encoded and JSON-escaped spellings differ from the exact one.
KEYS = {
    "oai": ("LLMROUTER_TEST_OAI_KEY", "Router0Key/with+Symbols=&9f8e7d6c5b4a3210"),  # Bearer
    "anth": ("LLMROUTER_TEST_ANTHROPIC_KEY", "anthr0pic~Key/0f1e2d3c4b5a+69788796"),  # x-api-key
    "olla": ("LLMROUTER_TEST_OLLAMA_KEY", "oll4ma.Key/5a4b3c2d1e0f=+77665544"),  # Bearer
}
OTHER_TOKEN = "abc123def456ghi789jkl"
SK_SHAPE = "sk-live-0123456789abcdef"
USEFUL = "Unrecognized argument: foo"


def spellings(key: str) -> dict[str, str]:
    return {
        "exact": key,
        "url-encoded": quote(key, safe=""),
        "json-escaped": json.dumps(key)[1:-1].replace("/", "\\/"),
        # Providers that show part of a key, or normalise its case.
        "truncated": key[:20],
        "lower-cased": key.lower(),
    }


def echo(key: str) -> str:
    """What a careless upstream writes: the headers it got, quoted five ways."""
    forms = spellings(key)
    return (
        f"{USEFUL}. Incorrect key {forms['truncated']}... ({forms['lower-cased']}) "
        f"Authorization: Bearer {key} url={forms['url-encoded']} "
        f"json={forms['json-escaped']} other=Bearer {OTHER_TOKEN} {SK_SHAPE}"
    )


def leaks(blob: bytes, key: str) -> list[str]:
    secrets = {**spellings(key), "other bearer": OTHER_TOKEN, "sk- shape": SK_SHAPE}
    return [name for name, secret in secrets.items() if secret.encode() in blob]


def span_text(span: ReadableSpan) -> str:
    """Everything a span exports as text: name, status, attributes, events (unescaped)."""
    parts = [span.name, span.status.description or ""]
    parts += [str(value) for value in (span.attributes or {}).values()]
    for event in span.events:
        parts += [event.name, *(str(value) for value in (event.attributes or {}).values())]
    return "\n".join(parts)


async def ask(stub: Any, chat: chat_pb2.ChatRequest, streamed: bool) -> None:
    if streamed:
        async for _ in stub.StreamComplete(router_service_pb2.StreamCompleteRequest(chat=chat)):
            pass
    else:
        await stub.Complete(router_service_pb2.CompleteRequest(chat=chat))


# (provider, behaviour, streamed, gRPC code, reason, whether the caller sees the message)
CASES = [
    ("oai", "400", False, "INVALID_ARGUMENT", "UPSTREAM_BAD_REQUEST", True),
    ("oai", "422", False, "INVALID_ARGUMENT", "UPSTREAM_BAD_REQUEST", True),
    ("oai", "500", False, "UNAVAILABLE", "ALL_MODELS_FAILED", False),
    ("oai", "429", False, "RESOURCE_EXHAUSTED", "ALL_MODELS_RATE_LIMITED", False),
    ("oai", "stream", True, "UNAVAILABLE", "ALL_MODELS_FAILED", False),
    ("anth", "400", False, "INVALID_ARGUMENT", "UPSTREAM_BAD_REQUEST", True),
    ("anth", "stream", True, "INVALID_ARGUMENT", "UPSTREAM_BAD_REQUEST", True),
    ("olla", "400", False, "INVALID_ARGUMENT", "UPSTREAM_BAD_REQUEST", True),
    ("olla", "stream", True, "UNAVAILABLE", "ALL_MODELS_FAILED", False),
]


def behavior(provider: str, kind: str, message: str) -> Behavior:
    if kind == "stream":
        # Anthropic's error event names a type; invalid_request_error reaches the caller.
        code = "invalid_request_error" if provider == "anth" else ""
        return Behavior(stream_error=message, error_code=code)
    return Behavior(status=int(kind), error_message=message)


@pytest.mark.parametrize(
    ("provider", "kind", "streamed", "code", "reason", "shown"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
async def test_an_upstream_error_never_carries_the_key_it_quotes(
    spans: InMemorySpanExporter,
    make_router: Any,
    upstream: FakeUpstream,
    fake_metrics: tuple[FakeMetrics, Any],
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    kind: str,
    streamed: bool,
    code: str,
    reason: str,
    shown: bool,
) -> None:
    for env, key in KEYS.values():
        monkeypatch.setenv(env, key)
    env, key = KEYS[provider]
    base = upstream.base_url
    providers = (
        ProviderConfig(
            name="oai", kind="openai", base_url=f"{base}/v1", api_key_env=KEYS["oai"][0]
        ),
        ProviderConfig(name="anth", kind="anthropic", base_url=base, api_key_env=KEYS["anth"][0]),
        ProviderConfig(name="olla", kind="ollama", base_url=base, api_key_env=KEYS["olla"][0]),
    )
    upstream.set("m", behavior(provider, kind, echo(key)))
    _, stub = await make_router(
        (model("m", provider),),
        ("m",),
        providers=providers,
        retry=RetryConfig(attempts_per_model=1),
    )
    chat = chat_pb2.ChatRequest(messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")])
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await ask(stub, chat, streamed)
    records = fake_metrics[0].records
    await wait_for(lambda: len(records) == 1)
    rpc = "llmrouter.v1.RouterService/" + ("StreamComplete" if streamed else "Complete")
    await wait_for(lambda: any(span.name == rpc for span in spans.get_finished_spans()))

    # The key did go upstream (that is the provider's job), and came back in the error.
    sent = upstream.requests[-1].headers
    assert key in (sent.get("authorization", "") + sent.get("x-api-key", ""))
    # The caller: a classified error, whose message keeps what helps and loses the key.
    error = failed.value
    assert error.code().name == code
    caller = (error.details() or "").encode() + b"".join(
        value if isinstance(value, bytes) else value.encode()
        for _, value in error.trailing_metadata() or ()
    )
    assert reason.encode() in caller
    assert leaks(caller, key) == []
    if shown:
        assert USEFUL in (error.details() or "")
        assert "[redacted]" in (error.details() or "")
    # Every exported span.
    exported = "\n".join(map(span_text, spans.get_finished_spans())).encode()
    assert b"chat m" in exported
    assert leaks(exported, key) == []
    if kind not in ("500", "429"):  # those are classified by status alone
        assert USEFUL.encode() in exported  # on the attempt span's status
    # The usage record shipped to the ledger.
    (record,) = records.values()
    assert record.error_type
    assert leaks(record.SerializeToString(), key) == []
