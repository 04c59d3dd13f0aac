"""JSON Schemas of the OpenAI-shaped answers: completions, stream events, models, routing
decisions and errors; with :mod:`gateway.openapi.chat_request`, every schema of that side.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi.chat_request import CHAT_REQUEST_SCHEMAS
from gateway.openapi.parts import INTEGER, NUMBER, OPT_STRING, STRING, obj, ref

__all__ = ["CHAT_SCHEMAS"]

# --- responses -----------------------------------------------------------------------------------

_ERROR = obj(
    ["error"],
    {
        "error": obj(
            ["message", "type", "param", "code"],
            {"message": STRING, "type": STRING, "param": OPT_STRING, "code": OPT_STRING},
        )
    },
)

# A choice's log probabilities, as OpenAI-compatible upstreams send them when asked
# ('logprobs': true), passed on unchanged: "content" (and "refusal") lists of
# {token, logprob, bytes, top_logprobs}; null when not asked for or not available.
_LOGPROBS = {
    "anyOf": [
        {
            "type": "object",
            "properties": {
                "content": {"type": ["array", "null"], "items": {"type": "object"}},
                "refusal": {"type": ["array", "null"], "items": {"type": "object"}},
            },
        },
        {"type": "null"},
    ]
}

# OpenAI's usage object: prompt_tokens includes the cached_tokens read from the provider's
# prompt cache, completion_tokens the reasoning_tokens; the details are 0 when none (or the
# provider does not say).
_USAGE = obj(
    [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    ],
    {
        "prompt_tokens": INTEGER,
        "completion_tokens": INTEGER,
        "total_tokens": INTEGER,
        "prompt_tokens_details": obj(["cached_tokens"], {"cached_tokens": INTEGER}),
        "completion_tokens_details": obj(["reasoning_tokens"], {"reasoning_tokens": INTEGER}),
    },
)
_FINISH = {"enum": ["stop", "length", "tool_calls", "content_filter"]}
_COMPLETION = obj(
    ["id", "object", "created", "model", "choices", "usage"],
    {
        "id": STRING,
        "object": {"const": "chat.completion"},
        "created": INTEGER,
        "model": STRING,
        "choices": {
            "type": "array",
            "items": obj(
                ["index", "message", "logprobs", "finish_reason"],
                {
                    "index": INTEGER,
                    "message": obj(
                        ["role", "content", "refusal"],
                        {
                            "role": {"const": "assistant"},
                            "content": OPT_STRING,
                            # The model's refusal (structured outputs), content then null.
                            "refusal": OPT_STRING,
                            "tool_calls": {"type": "array", "items": ref("ToolCall")},
                            # The model's reasoning text beside the answer (DeepSeek's and
                            # vLLM's shape); absent when its upstream gave none.
                            "reasoning_content": STRING,
                        },
                    ),
                    "logprobs": _LOGPROBS,
                    "finish_reason": _FINISH,
                },
            ),
        },
        "usage": ref("Usage"),
        # As an OpenAI-compatible upstream sent them; absent when it sent none.
        "service_tier": STRING,
        "system_fingerprint": STRING,
    },
)

_CHUNK = obj(
    ["id", "object", "created", "model", "choices"],
    {
        "id": STRING,
        "object": {"const": "chat.completion.chunk"},
        "created": INTEGER,
        "model": STRING,
        "choices": {
            "type": "array",
            "items": obj(
                ["index", "delta", "logprobs", "finish_reason"],
                {
                    "index": INTEGER,
                    "delta": {
                        "type": "object",
                        "properties": {
                            "role": {"const": "assistant"},
                            "content": OPT_STRING,
                            "refusal": STRING,
                            "tool_calls": {"type": "array", "items": {"type": "object"}},
                            "reasoning_content": STRING,
                        },
                    },
                    "logprobs": _LOGPROBS,
                    "finish_reason": {"anyOf": [_FINISH, {"type": "null"}]},
                },
            ),
        },
        "usage": {"anyOf": [ref("Usage"), {"type": "null"}]},
        "service_tier": STRING,
        "system_fingerprint": STRING,
    },
)
# One server-sent event: a chunk, an error (then the stream ends), or the final [DONE].
_EVENT = obj(
    ["data"],
    {
        "data": {
            "anyOf": [
                {"const": "[DONE]"},
                {
                    "type": "string",
                    "pattern": "^[{]",
                    "contentMediaType": "application/json",
                    "contentSchema": {"anyOf": [ref("ChatCompletionChunk"), ref("Error")]},
                },
            ]
        }
    },
)

_NULLABLE_NUMBER = {"type": ["number", "null"]}
_QUALITY = obj(
    ["quality", "source", "samples", "mean_similarity", "lower", "upper"],
    {
        "quality": NUMBER,
        "source": {
            "type": "string",
            "description": "knn (labelled neighbours of the prompt), category (the model's "
            "estimate in the category, from feedback and evaluation scores) or prior (the "
            "configured quality: too few scores yet)",
        },
        "samples": {
            **INTEGER,
            "description": "labelled neighbours used (knn) or scores behind the estimate",
        },
        "mean_similarity": {
            **NUMBER,
            "description": "mean cosine similarity of the neighbours (knn; else 0)",
        },
        "lower": _NULLABLE_NUMBER,
        "upper": _NULLABLE_NUMBER,
    },
    description="The estimated quality that placed the candidate (preferences weighing "
    "quality, or a quality bound): estimate and 90 % credible interval (null where unknown).",
)
_ROUTE = obj(
    [
        "category",
        "category_source",
        "estimated_prompt_tokens",
        "min_quality",
        "predictor_embedding_model",
        "candidates",
        "skipped",
    ],
    {
        "category": STRING,
        "category_source": STRING,
        "estimated_prompt_tokens": INTEGER,
        "min_quality": {
            **_NULLABLE_NUMBER,
            "description": "The quality bound the order honours (the request's or the "
            "category's min_quality); null when none applied",
        },
        "predictor_embedding_model": {
            **STRING,
            "description": "The embedding model the learned predictor used; empty when it "
            "did not run",
        },
        "candidates": {
            "type": "array",
            "items": obj(
                ["model", "provider", "deployment", "position", "score", "reason"],
                {
                    "model": STRING,
                    "provider": STRING,
                    "deployment": {
                        **STRING,
                        "description": "The deployment the first attempt on this model "
                        "will use (empty for a model without deployments)",
                    },
                    "position": INTEGER,
                    "score": NUMBER,
                    "reason": STRING,
                    "quality": _QUALITY,
                },
            ),
        },
        "skipped": {
            "type": "array",
            "items": obj(
                ["model", "reason", "detail"],
                {
                    "model": STRING,
                    "reason": {
                        "type": "string",
                        "description": "e.g. disabled, breaker_open, missing_capability, "
                        "context_window (a model whose window is known, configured or listed "
                        "by genai-prices, and too small for the request's estimated tokens; a "
                        "model whose window is unknown is never skipped for size), "
                        "unknown_model, rate_limit (the model's or its provider's configured "
                        "rpm / tpm quota is used up for now)",
                    },
                    "detail": STRING,
                },
            ),
        },
    },
)


CHAT_SCHEMAS: Final[dict[str, Any]] = {
    "Error": _ERROR,
    **CHAT_REQUEST_SCHEMAS,
    "ChatCompletion": _COMPLETION,
    "ChatCompletionChunk": _CHUNK,
    "ChatCompletionEvent": _EVENT,
    "Usage": _USAGE,
    "RouteDecision": _ROUTE,
}
