"""The router's answers as Anthropic Messages API JSON: a ``message`` object, or the stream's
server-sent events (API reference, "Messages" response, and "Streaming Messages":
https://docs.anthropic.com/en/docs/build-with-claude/streaming).

A message's ``content`` is, in order: a ``thinking`` block when the model gave its reasoning
(with an empty ``signature``: the router gets none to pass on from other providers, and keeps
none from Anthropic's), a ``text`` block (also when the answer is empty and has no tool call),
then one ``tool_use`` block per call. ``stop_reason``: the router's finish reasons stop ->
``end_turn``, length -> ``max_tokens``, tool_calls -> ``tool_use``, content_filter ->
``refusal``; the router does not report which stop sequence matched, so ``stop_sequence`` is
always null. ``usage.input_tokens`` excludes the prompt-cache reads and writes, reported apart
as Anthropic does.

The stream: ``message_start``, then each block as ``content_block_start``, its
``content_block_delta`` events (``thinking_delta``, ``text_delta``, ``input_json_delta``) and
``content_block_stop`` (a ``ping`` after the first block's start), then ``message_delta`` (stop
reason and usage) and ``message_stop``. Each event is ``event: <type>`` plus its JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from gateway.translate.chat_response import completion_headers, stream_start_headers
from llmrouter.v1 import chat_pb2, router_service_pb2

__all__ = ["MessageEvents", "message_headers", "message_json", "sse"]

_STOP_REASONS: Final[Mapping[int, str]] = {
    chat_pb2.FINISH_REASON_STOP: "end_turn",
    chat_pb2.FINISH_REASON_LENGTH: "max_tokens",
    chat_pb2.FINISH_REASON_TOOL_CALLS: "tool_use",
    chat_pb2.FINISH_REASON_CONTENT_FILTER: "refusal",
}
PING: Final = b'event: ping\ndata: {"type":"ping"}\n\n'


def sse(event: Mapping[str, Any]) -> bytes:
    """One server-sent event named by ``event["type"]``."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def message_id(router_id: str) -> str:
    """``msg_<router request id>``."""
    return f"msg_{router_id}"


def message_json(response: router_service_pb2.CompleteResponse) -> dict[str, Any]:
    """A ``message`` object for a finished request."""
    content: list[dict[str, Any]] = []
    if response.reasoning_content:
        content.append(
            {"type": "thinking", "thinking": response.reasoning_content, "signature": ""}
        )
    message = response.message
    text = message.content or "".join(p.text for p in message.content_parts) or message.refusal
    if text or not message.tool_calls:
        content.append({"type": "text", "text": text})
    content.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call.arguments)}
        for call in message.tool_calls
    )
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": _stop_reason(response.finish_reason, bool(message.tool_calls)),
        "stop_sequence": None,
        "usage": usage_json(response.usage),
    }


def message_headers(response: router_service_pb2.CompleteResponse) -> dict[str, str]:
    """The ``x-llmrouter-*`` and ``x-request-id`` headers of a chat completion, and
    ``request-id`` (Anthropic's name for it) with the same id."""
    headers = completion_headers(response)
    if "x-request-id" in headers:
        headers["request-id"] = headers["x-request-id"]
    return headers


def usage_json(usage: chat_pb2.Usage) -> dict[str, int]:
    """Anthropic's ``usage``: ``input_tokens`` are the prompt tokens neither read from nor
    written to the prompt cache."""
    cached = usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "input_tokens": max(usage.prompt_tokens - cached, 0),
        "output_tokens": usage.completion_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def _stop_reason(reason: int, has_tool_calls: bool) -> str:
    if has_tool_calls and reason in (
        chat_pb2.FINISH_REASON_STOP,
        chat_pb2.FINISH_REASON_TOOL_CALLS,
    ):
        return "tool_use"
    return _STOP_REASONS.get(reason, "end_turn")


def _input(arguments: str) -> Any:
    """A call's JSON arguments as ``input``; arguments that are not a JSON object (a model's
    broken JSON) come as ``{}``, the input of a call without arguments."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


class MessageEvents:
    """Turns StreamComplete messages into the Messages stream's events, in order.

    Feed it every message (:meth:`sse`); :attr:`finished` turns true with the summary. It also
    keeps what :class:`gateway.resume.ResumableStream` asks of a stream's translator: the text
    sent, the deltas relayed, whether a tool call was, and the serving model.
    """

    def __init__(self, *, request_id: str, model: str) -> None:
        # The gateway's request id until the StreamStart brings the router's.
        self._id = message_id(request_id)
        self._model = model
        self._start_headers: dict[str, str] = {}
        self._index = -1  # the open block's index (-1: none yet)
        self._open = ""  # "thinking", "text", "tool_use" or "" (none open)
        self._tool_index = -1  # the router's index of the open tool call
        self._pinged = False
        self._started = False
        self._texts: list[str] = []
        self.deltas = 0
        self.finished = False
        # Prompt plus completion tokens of the summary's usage (0 until it came).
        self.used_tokens = 0
        self.saw_tool_calls = False
        self.serving_model: str | None = None

    @property
    def text(self) -> str:
        """The answer's text sent so far."""
        return "".join(self._texts)

    def headers(self) -> dict[str, str]:
        """The stream's ``x-llmrouter-*`` headers and its request ids (after the start)."""
        return dict(self._start_headers)

    def sse(self, message: router_service_pb2.StreamCompleteResponse) -> bytes:
        """The events for one router message (b"" when it adds none)."""
        kind = message.WhichOneof("chunk")
        if kind == "delta":
            return self._delta(message.delta)
        if kind == "delta_batch":
            return b"".join(self._delta(delta) for delta in message.delta_batch.deltas)
        if kind == "start":
            return self._start(message.start)
        if kind == "summary":
            return self._summary(message.summary)
        return b""

    def _start(self, start: router_service_pb2.StreamStart) -> bytes:
        if self._started:  # a resumed stream starts again: the client already has its start
            return b""
        self._started = True
        self._id = message_id(start.id)
        self._model = self.serving_model = start.model
        headers = stream_start_headers(start)
        if "x-request-id" in headers:
            headers["request-id"] = headers["x-request-id"]
        self._start_headers = headers
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return sse({"type": "message_start", "message": message})

    def _open_block(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close_block()
        self._index += 1
        self._open = kind
        out += sse({"type": "content_block_start", "index": self._index, "content_block": block})
        if not self._pinged:
            self._pinged = True
            out += PING
        return out

    def _close_block(self) -> bytes:
        if not self._open:
            return b""
        self._open = ""
        return sse({"type": "content_block_stop", "index": self._index})

    def _block_delta(self, delta: dict[str, Any]) -> bytes:
        return sse({"type": "content_block_delta", "index": self._index, "delta": delta})

    def _delta(self, delta: router_service_pb2.StreamDelta) -> bytes:
        self.deltas += 1
        out = b""
        if thinking := delta.reasoning_content:
            if self._open != "thinking":
                opened = {"type": "thinking", "thinking": "", "signature": ""}
                out += self._open_block("thinking", opened)
            out += self._block_delta({"type": "thinking_delta", "thinking": thinking})
        if text := delta.content or delta.refusal:
            if self._open != "text":
                out += self._open_block("text", {"type": "text", "text": ""})
            self._texts.append(text)
            out += self._block_delta({"type": "text_delta", "text": text})
        for call in delta.tool_calls:
            self.saw_tool_calls = True
            if not (self._open == "tool_use" and call.index == self._tool_index):
                # A call's first delta names it (id, name); each call is one block.
                block: dict[str, Any] = {"type": "tool_use", "id": call.id, "name": call.name}
                block["input"] = {}
                out += self._open_block("tool_use", block)
                self._tool_index = call.index
            if call.arguments:
                out += self._block_delta(
                    {"type": "input_json_delta", "partial_json": call.arguments}
                )
        return out

    def _summary(self, summary: router_service_pb2.StreamSummary) -> bytes:
        self.finished = True
        self.used_tokens = summary.usage.prompt_tokens + summary.usage.completion_tokens
        out = b""
        if self._index < 0:  # an empty answer still has its one (empty) text block
            out += self._open_block("text", {"type": "text", "text": ""})
        out += self._close_block()
        stop = _stop_reason(summary.finish_reason, self.saw_tool_calls)
        out += sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": usage_json(summary.usage),
            }
        )
        return out + sse({"type": "message_stop"})
