"""The router's answers (CompleteResponse, stream messages) as OpenAI JSON."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any, Final

import orjson

from llmrouter.request_ids import REQUEST_ID_PATTERN
from llmrouter.v1 import chat_pb2, router_service_pb2

__all__ = [
    "AUTO_MODEL",
    "ChunkStream",
    "completion",
    "completion_headers",
    "sse_bytes",
    "stream_start_headers",
]

# The virtual model that lets the router choose.
AUTO_MODEL: Final = "auto"

# A trace id goes into a header only when it is a plain token (W3C ids are 32 hex digits).
_TRACE_ID: Final = re.compile(r"[0-9A-Za-z._-]{1,128}")
# The router's CacheStatus as the x-llmrouter-cache header (none when not consulted).
_CACHE_HEADER: Final[Mapping[int, str]] = {
    router_service_pb2.CACHE_STATUS_HIT: "hit",
    router_service_pb2.CACHE_STATUS_MISS: "miss",
}

_FINISH_REASONS: Final[Mapping[int, str]] = {
    chat_pb2.FINISH_REASON_STOP: "stop",
    chat_pb2.FINISH_REASON_LENGTH: "length",
    chat_pb2.FINISH_REASON_TOOL_CALLS: "tool_calls",
    chat_pb2.FINISH_REASON_CONTENT_FILTER: "content_filter",
}


def completion(response: router_service_pb2.CompleteResponse) -> dict[str, Any]:
    """A ``chat.completion`` object for a finished request. The model's reasoning text, when
    its upstream gave one, is ``message.reasoning_content`` beside ``content``: the de-facto
    OpenAI-compatible shape (DeepSeek's API, "Reasoning Model (deepseek-reasoner)"; vLLM's
    "Reasoning Outputs"), which OpenAI's own schema lacks; absent when there is none."""
    tool_calls = [_tool_call_json(call) for call in response.message.tool_calls]
    text, refusal = _text(response.message), response.message.refusal
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if not text and (tool_calls or refusal) else text,
        "refusal": refusal or None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if response.reasoning_content:
        message["reasoning_content"] = response.reasoning_content
    return {
        "id": f"chatcmpl-{response.id}",
        "object": "chat.completion",
        "created": _created(response),
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": _logprobs(response.logprobs_json),
                "finish_reason": _finish_reason(response.finish_reason, bool(tool_calls)),
            }
        ],
        "usage": _usage(response.usage),
        **_served_by(response.service_tier, response.system_fingerprint),
    }


def completion_headers(response: router_service_pb2.CompleteResponse) -> dict[str, str]:
    """The ``x-llmrouter-*`` headers describing who served a finished request, and
    ``x-request-id``: the id the router gave it (its usage records' request_id)."""
    headers = {
        "x-llmrouter-model": response.model,
        "x-llmrouter-provider": response.provider,
        "x-llmrouter-attempts": str(len(response.attempts)),
        "x-llmrouter-fallback": "true" if response.fallback else "false",
    }
    if _TRACE_ID.fullmatch(response.trace_id):
        headers["x-llmrouter-trace-id"] = response.trace_id
    if REQUEST_ID_PATTERN.fullmatch(response.id):
        headers["x-request-id"] = response.id
    if cache := _CACHE_HEADER.get(response.cache):
        headers["x-llmrouter-cache"] = cache
    return headers


def stream_start_headers(start: router_service_pb2.StreamStart) -> dict[str, str]:
    """The ``x-llmrouter-*`` headers of a stream as its StreamStart knows them (sent before any
    content), and ``x-request-id``: the id the router gave the request."""
    headers = {
        "x-llmrouter-model": start.model,
        "x-llmrouter-provider": start.provider,
        "x-llmrouter-attempts": str(start.attempt_count),
        "x-llmrouter-fallback": "true" if start.fallback else "false",
    }
    if REQUEST_ID_PATTERN.fullmatch(start.id):
        headers["x-request-id"] = start.id
    if _TRACE_ID.fullmatch(start.trace_id):
        headers["x-llmrouter-trace-id"] = start.trace_id
    if cache := _CACHE_HEADER.get(start.cache):
        headers["x-llmrouter-cache"] = cache
    return headers


class ChunkStream:
    """Turns StreamComplete messages into ``chat.completion.chunk`` objects, in order.

    Feed it every message; :attr:`finished` turns true with the summary. The first message is
    the StreamStart, whose model and provider :meth:`headers` reports.
    """

    def __init__(self, *, request_id: str, model: str, include_usage: bool) -> None:
        # ``request_id`` (the gateway's) until the StreamStart brings the router's.
        self._id = f"chatcmpl-{request_id}"
        self._request_id = ""
        self._model = model
        self._provider = ""
        self._attempts = 0
        self._fallback = False
        self._trace_id = ""
        self._cache = ""
        self._created = int(time.time())
        self._include_usage = include_usage
        self._started = False
        self._role_sent = False
        self._saw_tool_calls = False
        # The upstream's service_tier and system_fingerprint, the latest a delta or the
        # summary carried.
        self._served_by: dict[str, str] = {}
        # (SSE bytes before a text delta's encoded text, after it), for the current _served_by.
        self._template: tuple[bytes, bytes] | None = None
        # The text sent so far and the deltas that carried it (a stream resumed elsewhere
        # continues that text, gateway.resume).
        self._text: list[str] = []
        self.deltas = 0
        self.finished = False
        # Prompt plus completion tokens of the answer, as its summary reports them (None
        # before the summary).
        self.used_tokens: int | None = None

    @property
    def text(self) -> str:
        """The answer's text sent so far."""
        return "".join(self._text)

    @property
    def saw_tool_calls(self) -> bool:
        """A tool call was sent: the answer cannot be continued."""
        return self._saw_tool_calls

    @property
    def serving_model(self) -> str | None:
        """The model the StreamStart named; None before it."""
        return self._model if self._started else None

    def headers(self) -> dict[str, str]:
        """``x-llmrouter-*`` headers as known from the StreamStart (sent before any content),
        and ``x-request-id``: the id the router gave the request."""
        headers = {"x-llmrouter-model": self._model}
        if self._request_id:
            headers["x-request-id"] = self._request_id
        if self._provider:
            headers["x-llmrouter-provider"] = self._provider
        if self._attempts:
            headers["x-llmrouter-attempts"] = str(self._attempts)
            headers["x-llmrouter-fallback"] = "true" if self._fallback else "false"
        if self._trace_id:
            headers["x-llmrouter-trace-id"] = self._trace_id
        if self._cache:
            headers["x-llmrouter-cache"] = self._cache
        return headers

    def feed(self, message: router_service_pb2.StreamCompleteResponse) -> list[dict[str, Any]]:
        """The chunks (zero or more) to send for one message of the router's stream."""
        if self.finished:
            return []
        kind = message.WhichOneof("chunk")
        if kind == "start":
            if not self._started:
                self._start(message.start)
            return []
        self._started = True
        if kind == "delta":
            return self._delta(message.delta)
        if kind == "delta_batch":
            return [chunk for delta in message.delta_batch.deltas for chunk in self._delta(delta)]
        if kind == "summary":
            return self._summary(message.summary)
        return []

    def sse(self, message: router_service_pb2.StreamCompleteResponse) -> bytes:
        """The SSE events (``data: <chunk JSON>``, each ending in a blank line) of
        :meth:`feed`'s chunks for ``message``, as one write; b"" when there are none.

        A text-only delta after the first (the common chunk) is the same bytes from a template
        made once per stream: only its text is encoded."""
        if not self.finished and self._role_sent:
            kind = message.WhichOneof("chunk")
            if kind == "delta":
                return self._delta_sse(message.delta)
            if kind == "delta_batch":
                return b"".join([self._delta_sse(delta) for delta in message.delta_batch.deltas])
        return b"".join([sse_bytes(chunk) for chunk in self.feed(message)])

    def _delta_sse(self, delta: router_service_pb2.StreamDelta) -> bytes:
        content = delta.content
        if (
            not content
            or delta.tool_calls
            or delta.refusal
            or delta.logprobs_json
            or delta.reasoning_content
        ):
            return b"".join([sse_bytes(chunk) for chunk in self._delta(delta)])
        if delta.service_tier or delta.system_fingerprint:
            served_by = _served_by(delta.service_tier, delta.system_fingerprint)
            if served_by != self._served_by:
                self._served_by, self._template = served_by, None
        template = self._template
        if template is None:
            # The chunk _delta() would build, its text a marker: the bytes before and after.
            choice = {
                "index": 0,
                "delta": {"content": "\0"},
                "logprobs": None,
                "finish_reason": None,
            }
            before, after = sse_bytes(self._chunk([choice])).rsplit(b'"\\u0000"', 1)
            template = self._template = (before, after)
        self.deltas += 1
        self._text.append(content)
        return template[0] + orjson.dumps(content) + template[1]

    def _start(self, start: router_service_pb2.StreamStart) -> None:
        self._started = True
        if start.id:
            self._id = f"chatcmpl-{start.id}"
            self._request_id = start.id if REQUEST_ID_PATTERN.fullmatch(start.id) else ""
        self._model = start.model or self._model
        self._provider = start.provider
        self._attempts = start.attempt_count
        self._fallback = start.fallback
        self._trace_id = start.trace_id if _TRACE_ID.fullmatch(start.trace_id) else ""
        self._cache = _CACHE_HEADER.get(start.cache, "")
        if start.HasField("create_time"):
            self._created = start.create_time.seconds

    def _delta(self, delta: router_service_pb2.StreamDelta) -> list[dict[str, Any]]:
        body: dict[str, Any] = {}
        if not self._role_sent:
            body["role"] = "assistant"
        self.deltas += 1
        served_by = _served_by(delta.service_tier, delta.system_fingerprint)
        if served_by and served_by != self._served_by:
            self._served_by, self._template = served_by, None
        if delta.content:
            body["content"] = delta.content
            self._text.append(delta.content)
        if delta.tool_calls:
            self._saw_tool_calls = True
            body["tool_calls"] = [_tool_call_delta_json(t) for t in delta.tool_calls]
        if delta.refusal:
            body["refusal"] = delta.refusal
        if delta.reasoning_content:
            # delta.reasoning_content, as DeepSeek and vLLM stream it (see completion()).
            # Not kept in self._text: a resumed stream continues the answer's text only.
            body["reasoning_content"] = delta.reasoning_content
        if not self._role_sent:
            self._role_sent = True
            body.setdefault("content", None if delta.tool_calls or delta.refusal else "")
        logprobs = _logprobs(delta.logprobs_json)
        if not body and logprobs is None:
            return []
        choice = {"index": 0, "delta": body, "logprobs": logprobs, "finish_reason": None}
        return [self._chunk([choice])]

    def _summary(self, summary: router_service_pb2.StreamSummary) -> list[dict[str, Any]]:
        self.finished = True
        self.used_tokens = summary.usage.prompt_tokens + summary.usage.completion_tokens
        # A stream without content deltas has the upstream's keys only here.
        self._served_by = (
            _served_by(summary.service_tier, summary.system_fingerprint) or self._served_by
        )
        delta: dict[str, Any] = {}
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", "content": ""}
        reason = _finish_reason(summary.finish_reason, self._saw_tool_calls)
        chunks = [
            self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}])
        ]
        if self._include_usage:
            chunks.append(self._chunk([], usage=_usage(summary.usage)))
        return chunks

    def _chunk(
        self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            **self._served_by,
            "choices": choices,
        }
        if self._include_usage:
            # As OpenAI: every chunk has "usage", null except on the last one.
            chunk["usage"] = usage
        return chunk


def sse_bytes(chunk: Mapping[str, Any]) -> bytes:
    """One SSE ``data:`` event carrying ``chunk`` as JSON."""
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _text(message: chat_pb2.Message) -> str:
    if message.content:
        return message.content
    return "".join(p.text for p in message.content_parts if p.WhichOneof("part") == "text")


def _tool_call_json(call: chat_pb2.ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def _tool_call_delta_json(delta: router_service_pb2.ToolCallDelta) -> dict[str, Any]:
    item: dict[str, Any] = {"index": delta.index}
    function: dict[str, Any] = {}
    if delta.id:
        item["id"] = delta.id
        item["type"] = "function"
    if delta.name:
        function["name"] = delta.name
    if delta.arguments or delta.id:
        function["arguments"] = delta.arguments
    item["function"] = function
    return item


def _logprobs(text: str) -> Any:
    """OpenAI's ``logprobs`` object from the router's JSON text of it (None when empty: the
    router checked it is an object the upstream sent)."""
    return json.loads(text) if text else None


def _finish_reason(reason: int, has_tool_calls: bool) -> str:
    return _FINISH_REASONS.get(reason) or ("tool_calls" if has_tool_calls else "stop")


def _usage(usage: chat_pb2.Usage) -> dict[str, Any]:
    """OpenAI's ``usage`` object (API reference, "The chat completion object"). The detail
    objects always come, 0 when nothing was cached or reasoned (or the provider does not
    say), as OpenAI sends them: clients read ``prompt_tokens_details.cached_tokens`` without
    a null check. Cache writes have no field in OpenAI's shape; they are in the ledger."""
    total = usage.total_tokens or usage.prompt_tokens + usage.completion_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _served_by(service_tier: str, system_fingerprint: str) -> dict[str, str]:
    """OpenAI's top-level ``service_tier`` and ``system_fingerprint`` keys (API reference, "The
    chat completion object" and "... chunk object"), each only when the upstream sent it."""
    keys = {"service_tier": service_tier, "system_fingerprint": system_fingerprint}
    return {key: value for key, value in keys.items() if value}


def _created(response: router_service_pb2.CompleteResponse) -> int:
    if response.HasField("create_time"):
        return response.create_time.seconds
    return int(time.time())
