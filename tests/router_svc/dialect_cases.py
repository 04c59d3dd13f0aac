"""Error bodies of hosted APIs (OpenAI, Azure OpenAI, Anthropic, Mistral, Gemini's
OpenAI-compatible endpoint, OpenRouter), as their references and users' reports show them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ASKED", "HOSTED", "Case", "err"]

# What the caller typed; an upstream's moderation error may quote it, the client must not see it.
ASKED = "tell me about the blue lighthouse"


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


def err(**fields: Any) -> dict[str, Any]:
    return {"error": fields}


HOSTED = [
    # OpenAI (developers.openai.com/docs/guides/error-codes; bodies as reported in
    # bytedance/deer-flow#310 and vanderschaarlab/climb#1).
    Case(
        "openai",
        "context",
        400,
        err(
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
        err(
            message="Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000.",
            type="tokens",
            param=None,
            code="rate_limit_exceeded",
        ),
    ),
    # 429 insufficient_quota: a billing state that waiting does not cure (issue 16).
    Case(
        "openai",
        "quota",
        429,
        err(
            message="You exceeded your current quota, please check your plan and billing details.",
            type="insufficient_quota",
            param=None,
            code="insufficient_quota",
        ),
    ),
    # A 400 naming the caller's field ("param") and an identifier code (issue 16).
    Case(
        "openai",
        "bad_request",
        400,
        err(
            message="Unsupported value: 'reasoning_effort' does not support 'minimal' with "
            "this model.",
            type="invalid_request_error",
            param="reasoning_effort",
            code="unsupported_value",
        ),
    ),
    Case(
        "openai",
        "auth",
        401,
        err(
            message="Incorrect API key provided: sk-abc***xyz.",
            type="invalid_request_error",
            code="invalid_api_key",
        ),
    ),
    Case(
        "openai",
        "overloaded",
        500,
        err(message="The server had an error while processing your request.", type="server_error"),
    ),
    Case(
        "openai",
        "bad_request",
        400,
        err(
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
        err(
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
        err(
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
        err(
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
        err(
            code="401",
            message="Access denied due to invalid subscription key or wrong API endpoint.",
        ),
    ),
    # Anthropic: 402 billing_error ("Errors", HTTP errors: 402 - billing_error).
    Case(
        "anthropic",
        "quota",
        402,
        {
            "type": "error",
            "error": {"type": "billing_error", "message": "Your credit balance is too low."},
        },
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
    # Gemini's OpenAI-compatible endpoint (page-assist#406: list-wrapped; gemini-cli#6678;
    # openai-scala-client#109: a bad key is a 400).
    Case(
        "gemini",
        "rate_limit",
        429,
        [
            err(
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
            err(
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
            err(
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
        [err(code=503, message="The model is overloaded.", status="UNAVAILABLE")],
    ),
    # OpenRouter (openrouter.ai/docs/api/reference/errors-and-debugging: error.code mirrors
    # the status; moderation metadata; provider errors in metadata.raw; 402 no credits).
    Case(
        "openrouter",
        "content_filter",
        403,
        err(
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
        err(
            code=400,
            message="Provider returned error",
            metadata={
                "provider_name": "DeepInfra",
                "raw": json.dumps(
                    err(message="This model's maximum context length is 8192 tokens.")
                ),
            },
        ),
    ),
    # ... and once generation has started, an error in a 200 body.
    Case(
        "openrouter",
        "context",
        200,
        err(
            code=400,
            message="This endpoint's maximum context length is 8192 tokens. However, you "
            "requested about 9000 tokens.",
        ),
    ),
    Case("openrouter", "overloaded", 200, err(code=502, message="Provider returned error")),
    Case(
        "openrouter",
        "quota",
        402,
        err(code=402, message="Insufficient credits. Add more using https://openrouter.ai"),
    ),
    Case("openrouter", "rate_limit", 429, err(code=429, message="Rate limit exceeded")),
    Case("openrouter", "timeout", 408, err(code=408, message="Request timed out")),
    Case(
        "openrouter",
        "overloaded",
        503,
        err(code=503, message="No endpoints found that can handle the requested parameters"),
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
]
