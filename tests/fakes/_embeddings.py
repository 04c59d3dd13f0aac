"""The fake upstream's embeddings endpoints, written from the providers' API references.

* OpenAI API reference, "Embeddings" > "Create embeddings" (``POST /v1/embeddings``): the body
  has ``input`` (a string, an array of strings, an array of token ids or an array of token
  arrays; not empty, an empty string refused, any array at most 2048 items), ``model``,
  optional ``dimensions`` (at least 1), ``encoding_format`` (``float``, the default, or
  ``base64``: little-endian float32 bytes) and ``user``. The answer, "The embedding object":
  ``{"object": "list", "data": [{"object": "embedding", "embedding": [...], "index": i}],
  "model", "usage": {"prompt_tokens", "total_tokens"}}``. Errors are OpenAI's error object.
* Ollama API reference, "Generate Embeddings" (``POST /api/embed``): ``model`` and ``input`` (a
  string or a list of strings), optional ``truncate``, ``dimensions``, ``options``,
  ``keep_alive``; the answer ``{"model", "embeddings": [[...]], "total_duration",
  "load_duration", "prompt_eval_count"}``. Errors are ``{"error": message}``.

Each vector is a deterministic function of the model and the text (so a test can tell which
model made it), of ``dimensions`` coordinates when asked, else :data:`DEFAULT_DIMENSIONS`.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

from tests.fakes._answer import JSONObject
from tests.fakes._behavior import Behavior

__all__ = ["DEFAULT_DIMENSIONS", "EMBED_PATHS", "embed_answer", "fake_vector"]

DEFAULT_DIMENSIONS = 8
# Path -> dialect.
EMBED_PATHS = {"/v1/embeddings": "openai", "/embeddings": "openai", "/api/embed": "ollama"}
# OpenAI's limit on inputs per request (API reference, "Create embeddings", input).
_OPENAI_MAX_INPUTS = 2048


def fake_vector(model: str, text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The fake's embedding of ``text`` by ``model``: values in [-1, 1) from a hash of both,
    exact in float32 (multiples of 1/128), so a base64 round trip keeps them equal."""
    digest = hashlib.sha256(f"{model}\x00{text}".encode()).digest()
    while len(digest) < dimensions:
        digest += hashlib.sha256(digest).digest()
    return [(b - 128) / 128 for b in digest[:dimensions]]


def _tokens(text: str) -> int:
    """A fake tokenizer: one token per whitespace-separated word, at least one."""
    return max(len(text.split()), 1)


def _inputs(body: Any) -> list[str] | str:
    """The inputs as texts, or the reason the request is invalid."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "'model' is required"
    raw = body.get("input")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        return "'input' must be a non-empty string or array"
    if all(isinstance(t, int) for t in raw):  # one token array
        return [" ".join(str(t) for t in raw)]
    texts: list[str] = []
    for item in raw:
        if isinstance(item, list) and all(isinstance(t, int) for t in item):
            texts.append(" ".join(str(t) for t in item))
        elif isinstance(item, str) and item:
            texts.append(item)
        else:
            return "'$.input' is invalid. Please check the API reference."
    return texts


def embed_answer(dialect: str, body: Any, behavior: Behavior) -> tuple[int, JSONObject]:
    """The status and JSON body answering ``body`` on a ``dialect`` embeddings path, the
    behaviour's prompt_tokens reported when set, its ``omit_usage`` leaving the counts out."""
    texts = _inputs(body)
    if isinstance(texts, str):
        return 400, _error(dialect, texts)
    if dialect == "openai" and len(texts) > _OPENAI_MAX_INPUTS:
        return 400, _error(dialect, f"'input' holds more than {_OPENAI_MAX_INPUTS} items")
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if type(dimensions) is not int or dimensions < 1:
        return 400, _error(dialect, "'dimensions' must be a positive integer")
    model = body["model"]
    vectors = [fake_vector(model, text, dimensions) for text in texts]
    used = behavior.prompt_tokens
    if used is None:
        used = sum(_tokens(t) for t in texts)
    if dialect == "ollama":
        answer: JSONObject = {
            "model": model,
            "embeddings": vectors,
            "total_duration": 1000,
            "load_duration": 10,
        }
        if not behavior.omit_usage:
            answer["prompt_eval_count"] = used
        return 200, answer
    encoded = body.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": _base64(v) if encoded else v,
        }
        for i, v in enumerate(vectors)
    ]
    answer = {"object": "list", "data": data, "model": model}
    if not behavior.omit_usage:
        answer["usage"] = {"prompt_tokens": used, "total_tokens": used}
    return 200, answer


def _base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _error(dialect: str, message: str) -> JSONObject:
    if dialect == "ollama":
        return {"error": message}
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "input",
            "code": None,
        }
    }
