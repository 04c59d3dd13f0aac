"""Error dialects over real HTTP: each server's own error body, as its reference or its users'
reports show it, reaches a real router from the fake upstream; the client sees the right error
class, a context-window error skips to a larger model, rate limits and the like fail over.

The bodies are the published or reported ones (sources beside each, and beside the matching row
of router_svc/providers/dialects.py), not what our adapters write.
"""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from llmrouter.v1 import router_service_pb2
from router_svc.config import RetryConfig
from router_svc.providers.dialects import RULES
from tests.fakes import Behavior, FakeUpstream

from .conftest import model
from .dialect_cases import ASKED, HOSTED, Case
from .dialect_cases_local import SELF_HOSTED
from .test_failover import chat
from .test_failover_budgets import error_reason

ONE_TRY = RetryConfig(attempts_per_model=1)
# The outcome of each kind: the attempt's (or the call's) reason, and whether another model
# is tried (context: only one with a larger window).
FAILS_OVER = {
    "rate_limit": "RATE_LIMITED",
    "auth": "UPSTREAM_AUTH_FAILED",
    "quota": "UPSTREAM_QUOTA_EXHAUSTED",
    "overloaded": "UPSTREAM_UNAVAILABLE",
    "unavailable": "UPSTREAM_UNAVAILABLE",
    "timeout": "UPSTREAM_TIMEOUT",
}
TERMINAL = {
    "content_filter": (grpc.StatusCode.FAILED_PRECONDITION, "CONTENT_FILTERED"),
    "bad_request": (grpc.StatusCode.INVALID_ARGUMENT, "UPSTREAM_BAD_REQUEST"),
}


CASES = [*HOSTED, *SELF_HOSTED]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_each_dialect_and_kind_is_recognised(
    case: Case, make_router: Any, upstream: FakeUpstream
) -> None:
    upstream.set("a", Behavior(status=case.status, raw_body=json.dumps(case.body).encode()))
    request = router_service_pb2.CompleteRequest(chat=chat(ASKED))
    if case.kind == "context":
        models = (
            model("a", case.provider, context_window=4096),
            model("b", context_window=4096),
            model("c", context_window=32000),
        )
        _, stub = await make_router(models, ("a", "b", "c"), retry=ONE_TRY)
        reply = await stub.Complete(request)
        # Skips b, whose window is no larger than the one that overflowed.
        assert [(a.model, a.error_type) for a in reply.attempts] == [
            ("a", "CONTEXT_LENGTH_EXCEEDED"),
            ("c", ""),
        ]
        assert reply.attempts[0].http_status == case.status
        return
    _, stub = await make_router((model("a", case.provider), model("b")), ("a", "b"), retry=ONE_TRY)
    if case.kind in FAILS_OVER:
        reply = await stub.Complete(request)
        assert reply.model == "b"
        assert [(a.model, a.error_type) for a in reply.attempts] == [
            ("a", FAILS_OVER[case.kind]),
            ("b", ""),
        ]
        assert reply.attempts[0].http_status == case.status
        return
    code, reason = TERMINAL[case.kind]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(request)
    assert (info.value.code(), error_reason(info.value)) == (code, reason)
    assert ASKED not in (info.value.details() or "")
    assert upstream.calls("b") == 0


def test_every_dialect_of_the_brief_has_cases_of_its_kinds() -> None:
    dialects = {c.dialect for c in CASES}
    assert dialects == {
        "openai",
        "azure",
        "anthropic",
        "vllm",
        "sglang",
        "llama.cpp",
        "ollama",
        "mistral",
        "gemini",
        "openrouter",
    }
    # Context windows are recognised for every dialect that reports them as an error
    # (Ollama truncates the prompt to num_ctx instead).
    assert {c.dialect for c in CASES if c.kind == "context"} == dialects - {"ollama"}


def test_every_row_cites_its_source() -> None:
    for row in RULES:
        assert row.source.strip(), row
        assert "http" in row.source or "#" in row.source, row
