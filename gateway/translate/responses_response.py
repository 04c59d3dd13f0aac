"""The router's answers as OpenAI Responses API JSON: a ``response`` object, or the stream's
server-sent events (API reference, "The response object" and "Streaming events":
https://platform.openai.com/docs/api-reference/responses-streaming; event shapes as the
``openai`` package types them, ``types/responses/response_*_event.py``).

A response's ``output`` is, in order: a ``reasoning`` item when the model gave its reasoning
(its text as ``content`` of ``reasoning_text``, ``summary`` empty), a ``message`` item (also
when the answer is empty and has no tool call) with an ``output_text`` part and, when the model
refused, a ``refusal`` part, then one ``function_call`` item per call. Ids: ``resp_<request
id>``, ``rs_<id>``, ``msg_<id>``, ``fc_<id>_<n>``. ``status`` is ``completed``, or
``incomplete`` with ``incomplete_details.reason`` ``max_output_tokens`` (finish reason length)
or ``content_filter``. The request's settings are repeated (``instructions``, ``tools``,
``text``...), ``store`` is always false.

The stream: ``response.created``, ``response.in_progress``, then per item
``response.output_item.added``, for a message or reasoning ``response.content_part.added``, its
``response.output_text.delta`` (``refusal``, ``reasoning_text``) events, ``...done`` and
``response.content_part.done``, for a call ``response.function_call_arguments.delta`` and
``.done``, then ``response.output_item.done``; last ``response.completed`` (or
``response.incomplete``) with the whole response and its usage. Each event is ``event: <type>``
plus its JSON, numbered by ``sequence_number`` from 0. A failure after the start is a
``response.failed`` event (the response with ``status: failed`` and its ``error``), which ends
the stream.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gateway.errors import GatewayError
from gateway.translate.chat_response import completion_headers, stream_start_headers
from gateway.translate.messages_response import sse
from llmrouter.v1 import chat_pb2, router_service_pb2

__all__ = ["ResponseEvents", "response_headers", "response_json"]

_INCOMPLETE: Final[Mapping[int, str]] = {
    chat_pb2.FINISH_REASON_LENGTH: "max_output_tokens",
    chat_pb2.FINISH_REASON_CONTENT_FILTER: "content_filter",
}
# A text-like part's field and its delta/done event names.
_TEXT_FIELD: Final[Mapping[str, str]] = {
    "output_text": "text",
    "refusal": "refusal",
    "reasoning_text": "text",
}
_EVENT_PREFIX: Final[Mapping[str, str]] = {
    "output_text": "response.output_text",
    "refusal": "response.refusal",
    "reasoning_text": "response.reasoning_text",
}


def usage_json(usage: chat_pb2.Usage) -> dict[str, Any]:
    """The Responses API's ``usage`` (API reference, "The response object", ``usage``)."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
    }


def _part(kind: str, text: str) -> dict[str, Any]:
    part: dict[str, Any] = {"type": kind, _TEXT_FIELD[kind]: text}
    if kind == "output_text":
        part["annotations"] = []
        part["logprobs"] = []
    return part


def _message_item(item_id: str, status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": []}


def _reasoning_item(item_id: str, status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "reasoning", "status": status, "summary": [], "content": []}


def _call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def _status(finish_reason: int) -> tuple[str, dict[str, str] | None]:
    """(``status``, ``incomplete_details``) of a response that ended for ``finish_reason``."""
    if reason := _INCOMPLETE.get(finish_reason):
        return "incomplete", {"reason": reason}
    return "completed", None


@dataclass
class _Envelope:
    """What a ``response`` object says beside its output."""

    response_id: str
    model: str
    created_at: int
    echo: Mapping[str, Any]
    service_tier: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def json(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None = None,
        *,
        incomplete: dict[str, str] | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        echo = self.echo
        body: dict[str, Any] = {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": error,
            "incomplete_details": incomplete,
            "instructions": echo.get("instructions"),
            "max_output_tokens": echo.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": echo.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "reasoning": echo.get("reasoning") or {"effort": None, "summary": None},
            "service_tier": self.service_tier or echo.get("service_tier"),
            "store": False,
            "temperature": echo.get("temperature"),
            "text": echo.get("text", {"format": {"type": "text"}}),
            "tool_choice": echo.get("tool_choice", "auto"),
            "tools": echo.get("tools", []),
            "top_p": echo.get("top_p"),
            "truncation": "disabled",
            "usage": usage,
            "user": echo.get("user"),
            "metadata": echo.get("metadata", {}),
        }
        if status in ("completed", "incomplete"):
            body["completed_at"] = int(time.time())
        return body


def response_json(
    response: router_service_pb2.CompleteResponse, echo: Mapping[str, Any]
) -> dict[str, Any]:
    """A ``response`` object for a finished request; ``echo``: the request's settings
    (:class:`gateway.translate.responses_request.ParsedResponses`)."""
    rid = response.id
    status, incomplete = _status(response.finish_reason)
    output: list[dict[str, Any]] = []
    if response.reasoning_content:
        reasoning = _reasoning_item(f"rs_{rid}", "completed")
        reasoning["content"].append(_part("reasoning_text", response.reasoning_content))
        output.append(reasoning)
    message = response.message
    text = message.content or "".join(p.text for p in message.content_parts)
    if text or message.refusal or not message.tool_calls:
        item = _message_item(f"msg_{rid}", status)
        if text or not message.refusal:
            item["content"].append(_part("output_text", text))
        if message.refusal:
            item["content"].append(_part("refusal", message.refusal))
        output.append(item)
    output.extend(
        _call_item(f"fc_{rid}_{n}", call.id, call.name, call.arguments, "completed")
        for n, call in enumerate(message.tool_calls)
    )
    created = response.create_time.seconds if response.HasField("create_time") else None
    envelope = _Envelope(
        f"resp_{rid}",
        response.model,
        created or int(time.time()),
        echo,
        service_tier=response.service_tier,
    )
    return envelope.json(status, output, usage_json(response.usage), incomplete=incomplete)


def response_headers(response: router_service_pb2.CompleteResponse) -> dict[str, str]:
    """The ``x-llmrouter-*`` and ``x-request-id`` headers, as on chat completions."""
    return completion_headers(response)


@dataclass
class _OpenItem:
    """The output item being streamed, and its open part."""

    index: int
    item: dict[str, Any]
    part: str = ""  # "" or the open part's type
    texts: list[str] = field(default_factory=list)
    tool_index: int = -1


class ResponseEvents:
    """Turns StreamComplete messages into the Responses stream's events, in order.

    Feed it every message (:meth:`sse`); :attr:`finished` turns true with the summary, after
    which :meth:`failed` is not to be called. It keeps what :class:`gateway.resume.
    ResumableStream` asks of a stream's translator (:class:`gateway.resume.StreamProgress`).
    """

    def __init__(self, *, request_id: str, model: str, echo: Mapping[str, Any]) -> None:
        # The gateway's request id until the StreamStart brings the router's.
        self._rid = request_id
        self._envelope = _Envelope(f"resp_{request_id}", model, int(time.time()), echo)
        self._start_headers: dict[str, str] = {}
        self._sequence = 0
        self._output: list[dict[str, Any]] = []
        self._open: _OpenItem | None = None
        self._calls = 0
        # Items opened per id prefix: a second message (text after reasoning after text) gets
        # its own id, msg_<id>_1.
        self._opened: dict[str, int] = {}
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
        """The stream's ``x-llmrouter-*`` headers and ``x-request-id`` (after the start)."""
        return dict(self._start_headers)

    def sse(self, message: router_service_pb2.StreamCompleteResponse) -> bytes:
        """The events for one router message (b"" when it adds none)."""
        if self.finished:
            return b""
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

    def failed(self, error: GatewayError) -> bytes:
        """The ``response.failed`` event that ends a stream broken by ``error``: the response
        so far, ``status: failed``, ``error`` ``{code, message}`` (``rate_limit_exceeded`` for
        a 429, else ``server_error``)."""
        self.finished = True
        output = list(self._output)
        code = "rate_limit_exceeded" if error.http_status == 429 else "server_error"
        body = self._envelope.json("failed", output, error={"code": code, "message": error.message})
        return self._event("response.failed", response=body)

    def _event(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return sse(event)

    def _start(self, start: router_service_pb2.StreamStart) -> bytes:
        if self._started:  # a resumed stream starts again: the client already has its start
            return b""
        self._started = True
        if start.id:
            self._rid = start.id
            self._envelope.response_id = f"resp_{start.id}"
        self._envelope.model = self.serving_model = start.model
        if start.HasField("create_time"):
            self._envelope.created_at = start.create_time.seconds
        self._start_headers = stream_start_headers(start)
        created = self._envelope.json("in_progress", [])
        out = self._event("response.created", response=created)
        return out + self._event("response.in_progress", response=created)

    # --- items -----------------------------------------------------------------------------

    def _open_item(self, item: dict[str, Any]) -> bytes:
        out = self._close_item("completed")
        self._open = _OpenItem(index=len(self._output), item=item)
        self._output.append(item)
        return out + self._event(
            "response.output_item.added", output_index=self._open.index, item=item
        )

    def _close_item(self, status: str) -> bytes:
        current = self._open
        if current is None:
            return b""
        out = self._close_part()
        item = current.item
        if item["type"] == "function_call":
            out += self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=current.index,
                arguments=item["arguments"],
            )
        item["status"] = status
        self._open = None
        return out + self._event("response.output_item.done", output_index=current.index, item=item)

    def _item_id(self, prefix: str) -> str:
        count = self._opened.get(prefix, 0)
        self._opened[prefix] = count + 1
        return f"{prefix}_{self._rid}" + (f"_{count}" if count else "")

    def _open_part(self, kind: str) -> bytes:
        current = self._open
        assert current is not None
        out = self._close_part()
        current.part = kind
        return out + self._event(
            "response.content_part.added",
            item_id=current.item["id"],
            output_index=current.index,
            content_index=len(current.item["content"]),
            part=_part(kind, ""),
        )

    def _close_part(self) -> bytes:
        current = self._open
        if current is None or not current.part:
            return b""
        kind, text = current.part, "".join(current.texts)
        part = _part(kind, text)
        where = {
            "item_id": current.item["id"],
            "output_index": current.index,
            "content_index": len(current.item["content"]),
        }
        done: dict[str, Any] = {_TEXT_FIELD[kind]: text}
        if kind == "output_text":
            done["logprobs"] = []
        out = self._event(f"{_EVENT_PREFIX[kind]}.done", **where, **done)
        out += self._event("response.content_part.done", **where, part=part)
        current.item["content"].append(part)
        current.part, current.texts = "", []
        return out

    def _text(self, kind: str, text: str, item_type: str) -> bytes:
        """``text`` as a delta of a ``kind`` part of an item of ``item_type`` (opened when
        another item or part is open)."""
        out = b""
        current = self._open
        if current is None or current.item["type"] != item_type:
            status = "in_progress"
            if item_type == "message":
                out += self._open_item(_message_item(self._item_id("msg"), status))
            else:
                out += self._open_item(_reasoning_item(self._item_id("rs"), status))
            current = self._open
            assert current is not None
        if current.part != kind:
            out += self._open_part(kind)
        current.texts.append(text)
        fields: dict[str, Any] = {
            "item_id": current.item["id"],
            "output_index": current.index,
            "content_index": len(current.item["content"]),
            "delta": text,
        }
        if kind == "output_text":
            fields["logprobs"] = []
        return out + self._event(f"{_EVENT_PREFIX[kind]}.delta", **fields)

    def _delta(self, delta: router_service_pb2.StreamDelta) -> bytes:
        self.deltas += 1
        out = b""
        if delta.reasoning_content:
            out += self._text("reasoning_text", delta.reasoning_content, "reasoning")
        if delta.content:
            self._texts.append(delta.content)
            out += self._text("output_text", delta.content, "message")
        if delta.refusal:
            out += self._text("refusal", delta.refusal, "message")
        for call in delta.tool_calls:
            self.saw_tool_calls = True
            current = self._open
            if not (
                current is not None
                and current.item["type"] == "function_call"
                and current.tool_index == call.index
            ):
                item_id = f"fc_{self._rid}_{self._calls}"
                self._calls += 1
                out += self._open_item(_call_item(item_id, call.id, call.name, "", "in_progress"))
                current = self._open
                assert current is not None
                current.tool_index = call.index
            if call.arguments:
                current.item["arguments"] += call.arguments
                out += self._event(
                    "response.function_call_arguments.delta",
                    item_id=current.item["id"],
                    output_index=current.index,
                    delta=call.arguments,
                )
        return out

    def _summary(self, summary: router_service_pb2.StreamSummary) -> bytes:
        self.used_tokens = summary.usage.prompt_tokens + summary.usage.completion_tokens
        status, incomplete = _status(summary.finish_reason)
        out = b""
        if not any(item["type"] in ("message", "function_call") for item in self._output):
            # An empty answer still has its one message, with an empty output_text.
            out += self._open_item(_message_item(self._item_id("msg"), "in_progress"))
            out += self._open_part("output_text")
        out += self._close_item(status)
        if summary.service_tier:
            self._envelope.service_tier = summary.service_tier
        body = self._envelope.json(
            status, list(self._output), usage_json(summary.usage), incomplete=incomplete
        )
        self.finished = True
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event(kind, response=body)
