"""Anthropic Messages API (``POST /v1/messages``), streaming events mapped to our deltas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from .. import chat
from ..errors import (
    BadUpstreamRequest,
    ContextLengthExceeded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    UpstreamUnavailable,
)
from .anthropic_json import as_json_answer, json_answer_stream, json_tool, json_tool_name
from .anthropic_stream import EventDecoder, TokenCounts, finish_reason, thinking_text
from .base import provider_kind
from .call import ProviderCall
from .counts import MalformedUsage
from .http import HttpProvider
from .lenient import StreamDecoder
from .unmapped import unmapped_field

__all__ = ["AnthropicProvider"]

# OpenAI's service_tier -> Anthropic's (Messages API, "service_tier": "auto" uses Priority
# Tier capacity when available, "standard_only" only standard capacity). OpenAI's "default"
# is standard processing; flex, scale and priority have no counterpart and are refused.
_SERVICE_TIERS = {"auto": "auto", "default": "standard_only"}

API_VERSION = "2023-06-01"
# Anthropic requires max_tokens; used when the caller sets none.
DEFAULT_MAX_TOKENS = 4096


def _anthropic_messages(
    request: chat.ChatRequest,
) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    """(system prompt, messages) in Anthropic's shape; tool results become user blocks.

    A ``cache_control`` goes on the block it marks (Anthropic, "Prompt caching": text, image,
    tool_use and tool_result blocks, system text blocks and tools take it): a part's on that
    part's block, a message's on the message's last block (a tool message's on its
    tool_result). The system prompt is one string, its messages joined by a blank line, unless
    one of them is marked: then it is a list of text blocks, one per message (per part for a
    message of parts), so the mark has a block to go on. A mark with no block to go on (an
    empty text part, an empty message) never gets here: .unmapped refuses it."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        # Anthropic wants alternating roles: merge consecutive same-role turns.
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for m in request.messages:
        blocks: list[dict[str, Any]] = []
        if m.role == "tool":
            blocks.append(
                {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.text()}
            )
            if m.is_error:
                # Messages API, tool_result ``is_error``: the tool failed.
                blocks[-1]["is_error"] = True
            marks = [m.cache_control, *(p.cache_control for p in m.parts)]
            _mark(blocks, next((c for c in marks if c is not None), None))
            add("user", blocks)
            continue
        for p in m.parts:
            if p.image_url:
                blocks.append(_mark([_image_block(p.image_url)], p.cache_control)[0])
            elif p.text:
                blocks.append(_mark([{"type": "text", "text": p.text}], p.cache_control)[0])
        if not m.parts and m.content:
            blocks.append({"type": "text", "text": m.content})
        for c in m.tool_calls:
            try:
                arguments = orjson.loads(c.arguments or "{}")
            except orjson.JSONDecodeError:
                arguments = {}
            blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": arguments})
        _mark(blocks, m.cache_control)
        if m.role in ("system", "developer"):
            system.extend(blocks)
        else:
            add("assistant" if m.role == "assistant" else "user", blocks)
    if any("cache_control" in block for block in system):
        return system, out
    texts = (m.text() for m in request.messages if m.role in ("system", "developer"))
    return "\n\n".join(texts), out


def _mark(blocks: list[dict[str, Any]], cache: chat.CacheControl | None) -> list[dict[str, Any]]:
    """``blocks`` with ``cache`` (if any) on the last one."""
    if cache is not None and blocks:
        blocks[-1]["cache_control"] = cache.json()
    return blocks


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _tool(tool: chat.Tool) -> dict[str, Any]:
    """A tool as Messages API ``tools[]`` (API reference, "Messages", tools): ``description``
    only when the client gave one (it is optional); ``input_schema`` is required, so a
    function without parameters gets the empty object schema."""
    out: dict[str, Any] = {"name": tool.name}
    if tool.description or tool.description_given:
        out["description"] = tool.description
    out["input_schema"] = orjson.loads(tool.parameters_json or '{"type":"object"}')
    if tool.cache_control is not None:
        # "Prompt caching": a mark on the last tool caches every tool definition.
        out["cache_control"] = tool.cache_control.json()
    return out


@provider_kind("anthropic")
class AnthropicProvider(HttpProvider):
    """Speaks ``POST {base_url}/v1/messages``."""

    path = "/v1/messages"
    continues = True
    stream_end = "message_stop"
    incomplete = "a message without content"

    def headers(self, key: str) -> dict[str, str]:
        """JSON, the API version, and the key as ``x-api-key``."""
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        if key:
            headers["x-api-key"] = key
        return headers

    def encode(self, call: ProviderCall, *, stream: bool) -> dict[str, Any]:
        """The Messages API request body."""
        request = call.request
        system, messages = _anthropic_messages(request)
        # "Prefill Claude's response": the reply continues a final assistant message, whose
        # content cannot end with trailing whitespace (the API answers 400).
        text = call.prefill.rstrip()
        if text:
            block = {"type": "text", "text": text}
            if messages and messages[-1]["role"] == "assistant":
                messages[-1]["content"].append(block)
            else:
                messages.append({"role": "assistant", "content": [block]})
        body: dict[str, Any] = {
            "model": call.model,
            "messages": messages,
            # max_completion_tokens or max_tokens: Anthropic's one limit, required.
            "max_tokens": request.output_limit or DEFAULT_MAX_TOKENS,
        }
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [_tool(t) for t in request.tools]
        if request.tool_choice or (request.tools and request.parallel_tool_calls is False):
            body["tool_choice"] = (
                {"type": "tool", "name": request.tool_choice}
                if request.tool_choice_is_function
                else {
                    "type": {"auto": "auto", "none": "none", "required": "any"}[
                        request.tool_choice or "auto"
                    ]
                }
            )
        # tool_choice auto, any and tool take disable_parallel_tool_use; none makes no calls.
        choice = body.get("tool_choice")
        if request.parallel_tool_calls is False and choice and choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
        if not call.prefill and (forced := json_tool(request)):
            # refuses() keeps requests with tools of their own away: this is the only tool.
            # Continuing a broken JSON answer (prefill) needs no tool: the prefilled JSON text
            # is continued as text ("Prefill Claude's response", the guide's JSON advice).
            body["tools"], body["tool_choice"] = [forced[0]], forced[1]
        if request.service_tier:
            body["service_tier"] = _SERVICE_TIERS[request.service_tier]
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, 1.0)
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.user:
            body["metadata"] = {"user_id": request.user}
        if stream:
            body["stream"] = True
        return body

    def refuses(self, request: chat.ChatRequest) -> str:
        """Fields the Messages API has no counterpart for (README, "Request fields")."""
        if request.logprobs:
            return "logprobs"
        if request.top_logprobs is not None:
            return "top_logprobs"
        for name in ("seed", "presence_penalty", "frequency_penalty"):
            if getattr(request, name) is not None:
                return name
        if request.reasoning_effort:
            # Extended thinking takes a token budget; no budget is OpenAI's "low" or "high".
            return "reasoning_effort"
        if request.service_tier and request.service_tier not in _SERVICE_TIERS:
            return "service_tier"
        if request.needs_json and request.tools:
            # JSON output is a forced tool here (.anthropic_json): the caller's tools could
            # never be called.
            return "response_format"
        fmt = request.response_format
        # The schema becomes the forced tool's input_schema, which Claude follows without a
        # guarantee (strict tool input needs the structured-outputs beta: see .unmapped).
        if (
            fmt is not None
            and fmt.type == "json_schema"
            and fmt.json_schema
            and orjson.loads(fmt.json_schema).get("strict") is True
        ):
            return "response_format.json_schema.strict"
        return unmapped_field(request, "anthropic") or super().refuses(request)

    async def complete(self, call: ProviderCall) -> chat.Completion:
        """One non-streaming call; a forced JSON tool's input is the answer's text."""
        completion = await super().complete(call)
        name = json_tool_name(call.request)
        return as_json_answer(completion, name) if name else completion

    async def stream(self, call: ProviderCall) -> AsyncIterator[chat.StreamEvent]:
        """The decoded stream; a forced JSON tool's input streams as the answer's text."""
        events: AsyncIterator[chat.StreamEvent] = super().stream(call)
        if name := json_tool_name(call.request):
            events = json_answer_stream(events, name)
        async with aclosing(events):  # type: ignore[type-var]
            async for event in events:
                yield event

    def decode(self, call: ProviderCall, data: Any) -> chat.Completion:
        """The text and tool-use blocks of a message, and the text of its thinking blocks as
        the reasoning (:func:`.anthropic_stream.thinking_text`)."""
        text = "".join(b["text"] for b in data["content"] if b["type"] == "text")
        calls = tuple(
            chat.ToolCall(b["id"], b["name"], orjson.dumps(b.get("input") or {}).decode())
            for b in data["content"]
            if b["type"] == "tool_use"
        )
        usage = data["usage"]
        if not isinstance(usage, dict):
            raise TypeError("usage")
        counts = TokenCounts()
        if unreadable := counts.update(usage):
            raise MalformedUsage(unreadable)
        return chat.Completion(
            content=text,
            tool_calls=calls,
            finish_reason=finish_reason(self, data.get("stop_reason"), counts.usage()),
            usage=counts.usage(),
            upstream_model=str(data.get("model") or call.model),
            reasoning_content="".join(thinking_text(b) for b in data["content"]),
        )

    def reported_usage(self, data: dict[str, Any]) -> chat.TokenUsage | None:
        """The counts a message's ``usage`` reports readably (estimated when some are not);
        None without one."""
        usage = data.get("usage")
        if usage is None:
            return None
        counts = TokenCounts()
        counts.update(usage)
        return counts.usage()

    def decoder(self, call: ProviderCall) -> StreamDecoder:
        """Server-sent events: message_start ... message_stop."""
        return EventDecoder(self, call)

    def stream_error(self, error: dict[str, Any], call: ProviderCall) -> ProviderError:
        """Our error for an ``error`` event of the stream."""
        kind = str(error.get("type", ""))
        message = self.redacted(str(error.get("message", "")), call)
        if kind == "rate_limit_error":
            return RateLimited(f"{self.name} rate limited mid-stream")
        if kind == "billing_error":
            # https://docs.anthropic.com/en/api/errors: 402 billing_error (billing or payment);
            # once a stream has started, an ``error`` event carries the same types. Credit, not
            # load: QuotaExhausted (fail over, never retry the model).
            return QuotaExhausted(f"{self.name} reported billing_error mid-stream")
        if kind == "invalid_request_error":
            if "too long" in message or "context" in message:
                return ContextLengthExceeded(f"{self.name}: {message}")
            return BadUpstreamRequest(f"{self.name}: {message}")
        return UpstreamUnavailable(f"{self.name} reported {kind or 'an error'} mid-stream")
