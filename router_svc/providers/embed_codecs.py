"""The embeddings APIs' request bodies and answers: OpenAI-compatible and Ollama.

* OpenAI API reference, "Embeddings" > "Create embeddings" (``POST /embeddings``): the body
  takes ``input`` (a string or an array of strings), ``model``, optional ``dimensions`` and
  ``user`` (``encoding_format`` is left out: its default, ``float``, is what is read); the
  answer is ``{"object": "list", "data": [{"object": "embedding", "embedding": [...],
  "index": i}], "model", "usage": {"prompt_tokens", "total_tokens"}}``.
* Ollama API reference, "Generate Embeddings" (``POST /api/embed``): the body takes ``model``
  and ``input`` (a string or a list of strings), optional ``dimensions``; the answer is
  ``{"model", "embeddings": [[...], ...], "prompt_eval_count", ...}``, one vector per input in
  input order.

Whatever an answer holds that is not one numeric vector per input, all of one length (the
length asked for, when one was), is a ``MalformedResponse``: retryable, so the chain goes on.
A count that is absent is estimated; one that is unreadable makes the answer malformed
(:mod:`.counts`).
"""

from __future__ import annotations

import math
from typing import Any

from ..chat import TokenUsage
from ..embeddings import EmbedCall, Embeddings, estimate_tokens
from ..errors import MalformedResponse
from .counts import UnreadableCount, count

__all__ = ["ollama_body", "ollama_embeddings", "openai_body", "openai_embeddings"]


def openai_body(call: EmbedCall) -> dict[str, Any]:
    """The ``POST /embeddings`` body for ``call``."""
    body: dict[str, Any] = {"model": call.model, "input": list(call.inputs)}
    if call.request.dimensions is not None:
        body["dimensions"] = call.request.dimensions
    if call.request.user:
        body["user"] = call.request.user
    return body


def ollama_body(call: EmbedCall) -> dict[str, Any]:
    """The ``POST /api/embed`` body for ``call``."""
    body: dict[str, Any] = {"model": call.model, "input": list(call.inputs)}
    if call.request.dimensions is not None:
        body["dimensions"] = call.request.dimensions
    return body


def openai_embeddings(provider: str, call: EmbedCall, data: dict[str, Any]) -> Embeddings:
    """The vectors of an OpenAI-shaped answer ``data``, put in input order by each item's
    ``index`` (the reference gives each its index, not its place). Raises MalformedResponse."""
    items = data.get("data")
    if not isinstance(items, list):
        raise MalformedResponse(f"{provider} sent an embeddings answer without a data list")
    by_index: dict[int, Any] = {}
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        if type(index) is not int or index in by_index:
            raise MalformedResponse(f"{provider} sent an embedding without a distinct index")
        by_index[index] = item.get("embedding")
    if sorted(by_index) != list(range(len(call.inputs))):
        raise MalformedResponse(
            f"{provider} sent {len(by_index)} embeddings for {len(call.inputs)} inputs"
        )
    vectors = [by_index[i] for i in range(len(call.inputs))]
    usage = data.get("usage")
    reported = _count(provider, usage.get("prompt_tokens") if isinstance(usage, dict) else None)
    return _embeddings(provider, call, vectors, reported, _model(data))


def ollama_embeddings(provider: str, call: EmbedCall, data: dict[str, Any]) -> Embeddings:
    """The vectors of an Ollama answer ``data`` (``embeddings``, in input order). Raises
    MalformedResponse."""
    vectors = data.get("embeddings")
    if not isinstance(vectors, list) or len(vectors) != len(call.inputs):
        got = len(vectors) if isinstance(vectors, list) else "no"
        raise MalformedResponse(f"{provider} sent {got} embeddings for {len(call.inputs)} inputs")
    reported = _count(provider, data.get("prompt_eval_count"))
    return _embeddings(provider, call, vectors, reported, _model(data))


def _model(data: dict[str, Any]) -> str:
    model = data.get("model")
    return model if isinstance(model, str) else ""


def _count(provider: str, value: Any) -> int | None:
    try:
        return count(value)
    except UnreadableCount:
        raise MalformedResponse(f"{provider} sent an unreadable token count") from None


def _embeddings(
    provider: str, call: EmbedCall, raw: list[Any], reported: int | None, model: str
) -> Embeddings:
    """Check each vector (a non-empty list of finite numbers, all of one length, the asked
    one when set) and take the usage: ``reported``, else the router's estimate."""
    vectors = tuple(_vector(provider, v) for v in raw)
    lengths = {len(v) for v in vectors}
    if len(lengths) > 1:
        raise MalformedResponse(f"{provider} sent vectors of different lengths")
    asked = call.request.dimensions
    if asked is not None and lengths and lengths != {asked}:
        raise MalformedResponse(
            f"{provider} sent {lengths.pop()}-dimension vectors, {asked} were asked for"
        )
    if reported is None:
        usage = TokenUsage(prompt_tokens=estimate_tokens(call.inputs), estimated=True)
    else:
        usage = TokenUsage(prompt_tokens=reported)
    return Embeddings(vectors, usage, model)


def _vector(provider: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise MalformedResponse(f"{provider} sent an embedding that is not a list of numbers")
    try:
        # bool is an int: never a coordinate; an int too large for a float is no coordinate
        # either (OverflowError).
        if all(type(n) is float or type(n) is int for n in value):
            vector = tuple(float(n) for n in value)
            if all(math.isfinite(n) for n in vector):
                return vector
    except OverflowError:
        pass
    raise MalformedResponse(f"{provider} sent an embedding that is not a list of numbers")
