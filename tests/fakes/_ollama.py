"""Ollama native chat: NDJSON streaming by default, tool arguments as objects, ``{"error"}``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar

from tests.fakes._answer import Answer, JSONObject, Stream, WireFormat, dumps, patched

__all__ = ["OllamaChat", "tag_list"]

_DONE = {"stop": "stop", "tool": "stop", "length": "length"}
# Nanosecond timings; fixed, since only their presence matters to clients.
_TIMINGS = {"total_duration": 5_000_000, "load_duration": 1_000_000}


class OllamaChat(WireFormat):
    """``POST /api/chat``."""

    stream_media_type = "application/x-ndjson"
    stream_by_default = True
    malformed_body: ClassVar[bytes] = b'{"model": "broken", "message": {'

    def prefill(self, body: JSONObject) -> str | None:
        """A final assistant message is continued: the reply holds only what follows it
        (ollama/ollama#6778, the maintainers' answer; fixed for every template in #5890)."""
        return super().prefill(body)

    def max_tokens(self, body: JSONObject) -> int | None:
        """``options.num_predict``."""
        options = body.get("options")
        limit = options.get("num_predict") if isinstance(options, dict) else None
        return limit if isinstance(limit, int) else None

    def reply(self, answer: Answer) -> JSONObject:
        """A single ``done: true`` object holding the whole message."""
        return {**_line(answer, _message(answer)), **_final(answer)}

    def stream(self, answer: Answer, body: JSONObject) -> Stream:
        """One line per text piece (or one line with the tool call), then the ``done`` line."""
        if answer.tool_name is None:
            messages = [{"role": "assistant", "content": piece} for piece in answer.pieces]
        else:
            # Ollama sends a tool call whole: its arguments are an object, not a string.
            whole = _message(answer)
            whole.pop("thinking", None)  # streamed in pieces before it
            messages = [whole]
        pieces = tuple(dumps(_line(answer, message)) + b"\n" for message in messages)
        # A thinking model's lines carry message.thinking pieces first, content "".
        thinking = tuple(
            dumps(_line(answer, {"role": "assistant", "content": "", "thinking": piece})) + b"\n"
            for piece in answer.reported.reasoning_pieces
        )
        done = {**_line(answer, {"role": "assistant", "content": ""}), **_final(answer)}
        return Stream(self.stream_media_type, thinking, pieces, (dumps(done) + b"\n",))

    def malformed_frame(self) -> bytes:
        """A line cut mid-object."""
        return b'{"model":"broken","message":{"role":"assistant",\n'

    def error(self, status: int, message: str, code: str) -> JSONObject:
        """``{"error": message}``; ``code`` is unused."""
        return {"error": message}

    def stream_error(self, message: str, code: str) -> bytes:
        """An NDJSON line ``{"error": message}`` (API reference, "Errors": an error mid-stream
        arrives as an object with an ``error`` property, the status staying 200)."""
        return dumps({"error": message}) + b"\n"


def tag_list(models: Iterable[str]) -> JSONObject:
    """``GET /api/tags``."""
    data: list[Any] = [
        {
            "name": name,
            "model": name,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 1,
            "digest": "0" * 64,
            "details": {"format": "gguf", "family": "fake", "parameter_size": "1B"},
        }
        for name in models
    ]
    return {"models": data}


def _message(answer: Answer) -> JSONObject:
    """The whole message; a thinking model's has its ``thinking`` beside ``content`` (API
    reference, "Generate a chat completion", response ``message.thinking``)."""
    thinking = answer.reported.reasoning
    extra: JSONObject = {"thinking": thinking} if thinking else {}
    if answer.tool_name is None:
        return {"role": "assistant", "content": answer.text, **extra}
    call = {"function": {"name": answer.tool_name, "arguments": dict(answer.arguments)}}
    return {"role": "assistant", "content": "", **extra, "tool_calls": [call]}


def _line(answer: Answer, message: JSONObject) -> JSONObject:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"model": answer.model, "created_at": now, "message": message, "done": False}


def _final(answer: Answer) -> JSONObject:
    final = {
        "done": True,
        "done_reason": _DONE[answer.stop],
        **_TIMINGS,
        "prompt_eval_count": answer.prompt_tokens,
        "eval_count": answer.completion_tokens,
    }
    return patched(final, answer.reported.usage_patch)
