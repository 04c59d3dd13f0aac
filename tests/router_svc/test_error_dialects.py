"""Error dialects over real HTTP: each server's own error body, as its reference or its users'
reports show it, reaches a real router from the fake upstream; the client sees the right error
class, a context-window error skips to a larger model, rate limits and the like fail over.

The bodies are the published or reported ones (sources beside each, and beside the matching row
of router_svc/providers/dialects.py), not what our adapters write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from llmrouter.v1 import router_service_pb2
from router_svc.config import RetryConfig
from router_svc.providers.dialects import RULES
from tests.fakes import Behavior, FakeUpstream

from .conftest import model
from .test_failover import chat
from .test_failover_budgets import error_reason

ONE_TRY = RetryConfig(attempts_per_model=1)
# What the caller typed; an upstream's moderation error may quote it, the client must not see it.
ASKED = "tell me about the blue lighthouse"
# The outcome of each kind: the attempt's (or the call's) reason, and whether another model
# is tried (context: only one with a larger window).
FAILS_OVER = {
    "rate_limit": "RATE_LIMITED",
    "auth": "UPSTREAM_AUTH_FAILED",
    "overloaded": "UPSTREAM_UNAVAILABLE",
    "unavailable": "UPSTREAM_UNAVAILABLE",
    "timeout": "UPSTREAM_TIMEOUT",
}
TERMINAL = {
    "content_filter": (grpc.StatusCode.FAILED_PRECONDITION, "CONTENT_FILTERED"),
    "bad_request": (grpc.StatusCode.INVALID_ARGUMENT, "UPSTREAM_BAD_REQUEST"),
}


@dataclass(frozen=True)
class Case:
    dialect: str
    kind: str
    status: int
    body: Any
    provider: str = "oai"  # which codec's path the model is served on

    @property
    def id(self) -> str:
        return f"{self.dialect}-{self.kind}-{self.status}"


def _err(**fields: Any) -> dict[str, Any]:
    return {"error": fields}


CASES = [
    # OpenAI (developers.openai.com/docs/guides/error-codes; bodies as in deer-flow#310,
    # TinyLLM#17, vercel/openai issues).
    Case(
        "openai",
        "context",
        400,
        _err(
            message="This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 202868 tokens. Please reduce the length of the messages.",
            type="invalid_request_error",
            param="messages",
            code="context_length_exceeded",
        ),
    ),
    Case(
        "openai",
        "rate_limit",
        429,
        _err(
            message="Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000.",
            type="tokens",
            param=None,
            code="rate_limit_exceeded",
        ),
    ),
    Case(
        "openai",
        "auth",
        401,
        _err(
            message="Incorrect API key provided: sk-abc***xyz.",
            type="invalid_request_error",
            code="invalid_api_key",
        ),
    ),
    Case(
        "openai",
        "overloaded",
        500,
        _err(message="The server had an error while processing your request.", type="server_error"),
    ),
    Case(
        "openai",
        "bad_request",
        400,
        _err(
            message="Unsupported parameter: 'max_tokens' is not supported with this model.",
            type="invalid_request_error",
            code="unsupported_parameter",
        ),
    ),
    # Azure OpenAI (learn.microsoft.com answers 5896505: content_filter 400 with innererror
    # ResponsibleAIPolicyViolation; TinyLLM#17: 429 with code "429").
    Case(
        "azure",
        "content_filter",
        400,
        _err(
            message="The response was filtered due to the prompt triggering Azure OpenAI's "
            "content management policy.",
            type=None,
            param="prompt",
            code="content_filter",
            status=400,
            innererror={
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {"violence": {"filtered": True, "severity": "high"}},
            },
        ),
    ),
    Case(
        "azure",
        "context",
        400,
        _err(
            message="This model's maximum context length is 8192 tokens. However, your "
            "messages resulted in 9000 tokens.",
            type="invalid_request_error",
            param="messages",
            code="context_length_exceeded",
            status=400,
        ),
    ),
    Case(
        "azure",
        "rate_limit",
        429,
        _err(
            code="429",
            message="Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
            "version 2024-08-01-preview have exceeded token rate limit of your current "
            "OpenAI S0 pricing tier. Please retry after 86400 seconds.",
        ),
    ),
    Case(
        "azure",
        "auth",
        401,
        _err(
            code="401",
            message="Access denied due to invalid subscription key or wrong API endpoint.",
        ),
    ),
    # Anthropic (errors reference; sojohnnysaid/project-guide#2; llmgateway 529 page).
    Case(
        "anthropic",
        "context",
        400,
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "prompt is too long: 208656 tokens > 200000 maximum",
            },
        },
        provider="anth",
    ),
    Case(
        "anthropic",
        "overloaded",
        529,
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        provider="anth",
    ),
    Case(
        "anthropic",
        "rate_limit",
        429,
        {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}},
        provider="anth",
    ),
    Case(
        "anthropic",
        "auth",
        401,
        {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        },
        provider="anth",
    ),
    Case(
        "anthropic",
        "bad_request",
        400,
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
        },
        provider="anth",
    ),
    # vLLM (vllm#20409, vllm#4667: the negative max_tokens of a prompt over the window).
    Case(
        "vllm",
        "context",
        400,
        {
            "object": "error",
            "message": "This model's maximum context length is 16384 tokens. However, you "
            "requested 19591 tokens (9591 in the messages, 10000 in the completion).",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    ),
    Case(
        "vllm",
        "context",
        400,
        {
            "object": "error",
            "message": "max_tokens must be at least 1, got -186.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    ),
    Case("vllm", "auth", 401, {"error": "Unauthorized"}),
    # SGLang (QwenLM/Qwen3#1321, sgl-project/sglang#4048).
    Case(
        "sglang",
        "context",
        400,
        {
            "object": "error",
            "message": "The input (61709 tokens) is longer than the model's context length "
            "(40960 tokens).",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    ),
    # llama.cpp server (ggml-org/llama.cpp#15780: 500 at first, 400 since #16486).
    Case(
        "llama.cpp",
        "context",
        400,
        _err(
            code=400,
            message="the request exceeds the available context size. try increasing the "
            "context size or enable context shift",
            type="exceed_context_size_error",
            n_prompt_tokens=14429,
            n_ctx=8192,
        ),
    ),
    Case(
        "llama.cpp",
        "context",
        500,
        _err(
            code=500,
            message="the request exceeds the available context size. try increasing the "
            "context size or enable context shift",
            type="exceed_context_size_error",
            n_prompt_tokens=1407,
            n_ctx=256,
        ),
    ),
    # Ollama (docs.ollama.com/api/errors: {"error": "..."}; 404 model, 429, 502 cloud).
    Case("ollama", "unavailable", 404, {"error": "model 'llama3.2' not found"}, provider="olla"),
    Case("ollama", "rate_limit", 429, {"error": "too many requests"}, provider="olla"),
    Case(
        "ollama",
        "auth",
        401,
        {"error": "unauthorized", "signin_url": "https://ollama.com/connect?name=h&key=k"},
        provider="olla",
    ),
    Case("ollama", "unavailable", 502, {"error": "cloud model unreachable"}, provider="olla"),
    Case(
        "ollama",
        "bad_request",
        400,
        {"error": "top_logprobs must be between 0 and 20"},
        provider="olla",
    ),
    # Mistral (krater.ai troubleshooting: 400 on the window; a top-level "message" elsewhere).
    Case(
        "mistral",
        "context",
        400,
        {
            "object": "error",
            "message": "Prompt contains 40010 tokens, too large for model with 32768 maximum "
            "context length",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        },
    ),
    Case("mistral", "rate_limit", 429, {"message": "Requests rate limit exceeded"}),
    Case("mistral", "auth", 401, {"message": "Unauthorized", "request_id": "abc"}),
    # Gemini's OpenAI-compatible endpoint (page-assist#406: list-wrapped; gemini-cli#6678;
    # openai-scala-client#109: a bad key is a 400).
    Case(
        "gemini",
        "rate_limit",
        429,
        [
            _err(
                code=429,
                message="Resource has been exhausted (e.g. check quota).",
                status="RESOURCE_EXHAUSTED",
            )
        ],
    ),
    Case(
        "gemini",
        "context",
        400,
        [
            _err(
                code=400,
                message="The input token count (1200293) exceeds the maximum number of tokens "
                "allowed (1048576).",
                status="INVALID_ARGUMENT",
            )
        ],
    ),
    Case(
        "gemini",
        "auth",
        400,
        [
            _err(
                code=400,
                message="API key not valid. Please pass a valid API key.",
                status="INVALID_ARGUMENT",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                    }
                ],
            )
        ],
    ),
    Case(
        "gemini",
        "overloaded",
        503,
        [_err(code=503, message="The model is overloaded.", status="UNAVAILABLE")],
    ),
    # OpenRouter (openrouter.ai/docs/api/reference/errors-and-debugging: error.code mirrors
    # the status; moderation metadata; provider errors in metadata.raw; 402 no credits).
    Case(
        "openrouter",
        "content_filter",
        403,
        _err(
            code=403,
            message="Your chosen model requires moderation and your input was flagged",
            metadata={
                "reasons": ["violence"],
                "flagged_input": ASKED,
                "provider_name": "OpenAI",
                "model_slug": "openai/gpt-4o",
            },
        ),
    ),
    Case(
        "openrouter",
        "context",
        400,
        _err(
            code=400,
            message="Provider returned error",
            metadata={
                "provider_name": "DeepInfra",
                "raw": json.dumps(
                    _err(message="This model's maximum context length is 8192 tokens.")
                ),
            },
        ),
    ),
    # ... and once generation has started, an error in a 200 body.
    Case(
        "openrouter",
        "context",
        200,
        _err(
            code=400,
            message="This endpoint's maximum context length is 8192 tokens. However, you "
            "requested about 9000 tokens.",
        ),
    ),
    Case("openrouter", "overloaded", 200, _err(code=502, message="Provider returned error")),
    Case(
        "openrouter",
        "auth",
        402,
        _err(code=402, message="Insufficient credits. Add more using https://openrouter.ai"),
    ),
    Case("openrouter", "rate_limit", 429, _err(code=429, message="Rate limit exceeded")),
    Case("openrouter", "timeout", 408, _err(code=408, message="Request timed out")),
    Case(
        "openrouter",
        "overloaded",
        503,
        _err(code=503, message="No endpoints found that can handle the requested parameters"),
    ),
]


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
