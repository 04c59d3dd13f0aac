"""Anthropic Messages: content blocks, named SSE events with pings, typed error bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tests.fakes._answer import Answer, JSONObject, Stream, WireFormat, dumps, patched

__all__ = ["AnthropicMessages"]

_STOP = {"stop": "end_turn", "tool": "tool_use", "length": "max_tokens"}
_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class AnthropicMessages(WireFormat):
    """``POST /v1/messages``."""

    stream_media_type = "text/event-stream; charset=utf-8"
    malformed_body: ClassVar[bytes] = b'{"id": "msg_broken", "type": "message", "content": ['

    def check(self, headers: Mapping[str, str], body: object) -> tuple[int, str] | None:
        """The real API's header checks come first, then ``max_tokens`` is required."""
        if not headers.get("x-api-key"):
            return 401, "x-api-key header is required"
        if not headers.get("anthropic-version"):
            return 400, "anthropic-version: header is required"
        problem = super().check(headers, body)
        if (
            problem is None
            and isinstance(body, dict)
            and not isinstance(body.get("max_tokens"), int)
        ):
            return 400, "max_tokens: Field required"
        if problem is None and isinstance(body, dict):
            problem = _cache_problem(body)
        prefill = self.prefill(body) if problem is None and isinstance(body, dict) else None
        if prefill is not None and prefill != prefill.rstrip():
            # "Prefill Claude's response": the prefill content cannot end with trailing
            # whitespace; the API answers 400.
            return 400, "messages: final assistant content cannot end with trailing whitespace"
        return problem

    def max_tokens(self, body: JSONObject) -> int | None:
        """``max_tokens`` (required by this API)."""
        limit = body.get("max_tokens")
        return limit if isinstance(limit, int) else None

    def reply(self, answer: Answer) -> JSONObject:
        """A ``message`` object."""
        return {
            **_message(answer),
            "content": [*_thinking_blocks(answer), _block(answer, full=True)],
            "stop_reason": answer.reported.stop_reason or _STOP[answer.stop],
            "usage": patched(
                {**_input_usage(answer), "output_tokens": answer.completion_tokens},
                answer.reported.usage_patch,
            ),
        }

    def stream(self, answer: Answer, body: JSONObject) -> Stream:
        """message_start, ping, one content block streamed in deltas, message_delta, stop."""
        start: JSONObject = {**_message(answer), "content": [], "stop_reason": None}
        # Streaming reference, "Event types": message_start's Message has usage as far as
        # known; message_delta's usage counts are cumulative. Servers that count the input
        # late report 0 (or no usage) at the start and the input counts in message_delta.
        final_usage: JSONObject = {"output_tokens": answer.completion_tokens}
        if answer.reported.start_usage == "full":
            start["usage"] = {**_input_usage(answer), "output_tokens": 1}
        else:
            if answer.reported.start_usage == "zero":
                start["usage"] = {"input_tokens": 0, "output_tokens": 0}
            final_usage = {**_input_usage(answer, lifetimes=False), **final_usage}
        final_usage = patched(final_usage, answer.reported.usage_patch)
        if "usage" in start:
            start["usage"] = patched(start["usage"], answer.reported.start_usage_patch)
        # Thinking first ("Building with extended thinking", streaming): a thinking block
        # opens empty, fills through thinking_delta events, and gets its signature in a
        # signature_delta just before its content_block_stop; a redacted_thinking block comes
        # whole. The answer's block follows, at the next index.
        thinking: list[bytes] = []
        for index, block in enumerate(_thinking_blocks(answer)):
            opened = {**block, "thinking": "", "signature": ""} if "thinking" in block else block
            thinking.append(_block_event("content_block_start", index, content_block=opened))
            if "thinking" in block:
                for piece in answer.reported.reasoning_pieces:
                    delta = {"type": "thinking_delta", "thinking": piece}
                    thinking.append(_block_event("content_block_delta", index, delta=delta))
                delta = {"type": "signature_delta", "signature": block["signature"]}
                thinking.append(_block_event("content_block_delta", index, delta=delta))
            thinking.append(_block_event("content_block_stop", index))
        at = len(_thinking_blocks(answer))
        head = (
            _event({"type": "message_start", "message": start}),
            *thinking,
            _event({"type": "content_block_start", "index": at, "content_block": _block(answer)}),
            _event({"type": "ping"}),
        )
        if answer.tool_name is None:
            deltas = [{"type": "text_delta", "text": piece} for piece in answer.pieces]
        elif answer.reported.tool_input_whole:
            deltas = []
        elif not answer.arguments:
            # "Input JSON delta": the deltas' partial_json strings concatenate to the input;
            # the reference's tool-use example opens with an empty one, and a tool without
            # parameters gets only that.
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
        else:
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in answer.pieces]
        pieces = tuple(
            _event({"type": "content_block_delta", "index": at, "delta": delta}) for delta in deltas
        )
        tail = (
            _event({"type": "content_block_stop", "index": at}),
            _event(
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": answer.reported.stop_reason or _STOP[answer.stop],
                        "stop_sequence": None,
                    },
                    "usage": final_usage,
                }
            ),
            _event({"type": "message_stop"}),
        )
        return Stream(self.stream_media_type, head, pieces, tail, end_marker=1)

    def malformed_frame(self) -> bytes:
        """A content_block_delta event whose data is cut mid-object."""
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,\n\n'

    def error(self, status: int, message: str, code: str) -> JSONObject:
        """``{"type": "error", "error": {"type", "message"}, "request_id"}``; ``code`` is unused."""
        return {
            "type": "error",
            "error": {"type": _ERRORS.get(status, "api_error"), "message": message},
            "request_id": "req_fake",
        }

    def stream_error(self, message: str, code: str) -> bytes:
        """``event: error`` with ``{"type": "error", "error": {"type", "message"}}`` (Messages
        streaming reference, "Error events"); ``code`` is the error type (default
        ``overloaded_error``, the documented example)."""
        error = {"type": code or "overloaded_error", "message": message}
        return _event({"type": "error", "error": error})


# "Prompt caching": up to 4 cache breakpoints per request, and an empty text block cannot
# carry one (the API's 400 messages, as clients report them).
_MAX_BREAKPOINTS = 4


def _cache_problem(body: JSONObject) -> tuple[int, str] | None:
    """The 400 the API gives for ``cache_control`` where it cannot go, if any."""
    system = body.get("system")
    blocks: list[Any] = [*(body.get("tools") or []), *(system if isinstance(system, list) else [])]
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            blocks.extend(content)
    marked = [b for b in blocks if isinstance(b, dict) and "cache_control" in b]
    if len(marked) > _MAX_BREAKPOINTS:
        message = f"A maximum of {_MAX_BREAKPOINTS} blocks with cache_control may be provided. "
        return 400, message + f"Found {len(marked)}."
    if any(b.get("type") == "text" and not b.get("text") for b in marked):
        return 400, "cache_control cannot be set for empty text blocks"
    return None


def _message(answer: Answer) -> JSONObject:
    return {
        "id": f"msg_fake{answer.seq:06d}",
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "stop_sequence": None,
    }


def _input_usage(answer: Answer, *, lifetimes: bool = True) -> JSONObject:
    """The input side of a Messages ``usage`` object (Messages API reference, response
    ``usage``): ``input_tokens`` excludes the cache reads and writes counted beside it;
    a Message's ``cache_creation`` splits the writes by cache lifetime
    (``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``); message_delta's usage has
    no such object (``lifetimes`` False)."""
    write, hour = answer.reported.cache_write_tokens, answer.reported.cache_write_1h_tokens
    usage: JSONObject = {
        "input_tokens": answer.prompt_tokens,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": answer.reported.cache_read_tokens,
    }
    if lifetimes:
        usage["cache_creation"] = {
            "ephemeral_5m_input_tokens": write - hour,
            "ephemeral_1h_input_tokens": hour,
        }
    return usage


def _block(answer: Answer, *, full: bool = False) -> JSONObject:
    """The single content block; when streaming it opens empty and fills through deltas
    (unless the fake is told to give a tool's input whole at the start)."""
    if answer.tool_name is None:
        return {"type": "text", "text": answer.text if full else ""}
    whole = full or answer.reported.tool_input_whole
    return {
        "type": "tool_use",
        "id": f"toolu_fake{answer.seq:06d}",
        "name": answer.tool_name,
        "input": dict(answer.arguments) if whole else {},
    }


def _thinking_blocks(answer: Answer) -> list[JSONObject]:
    """The message's thinking blocks, before its answer ("Building with extended thinking"):
    ``{"type": "thinking", "thinking", "signature"}`` with the reasoning, and a
    ``{"type": "redacted_thinking", "data"}`` block (encrypted, no text) when asked for."""
    blocks: list[JSONObject] = []
    if answer.reported.reasoning:
        signature = f"EqQBCgIYAhIM{answer.seq:06d}fake"
        blocks.append(
            {"type": "thinking", "thinking": answer.reported.reasoning, "signature": signature}
        )
    if answer.reported.redacted_thinking:
        blocks.append({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/fake"})
    return blocks


def _block_event(kind: str, index: int, **fields: object) -> bytes:
    return _event({"type": kind, "index": index, **fields})


def _event(data: JSONObject) -> bytes:
    return b"event: " + str(data["type"]).encode() + b"\ndata: " + dumps(data) + b"\n\n"
