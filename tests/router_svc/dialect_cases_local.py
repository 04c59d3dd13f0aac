"""Error bodies of self-hosted servers (vLLM, SGLang, llama.cpp server, Ollama), as their
sources and users' reports show them."""

from __future__ import annotations

from .dialect_cases import Case, err

__all__ = ["SELF_HOSTED"]

SELF_HOSTED = [
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
        err(
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
        err(
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
]
