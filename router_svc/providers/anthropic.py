"""Anthropic Messages API (``POST /v1/messages``), streaming events mapped to our deltas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from ..chat import (
    ChatRequest,
    Completion,
    StreamDelta,
    StreamEnd,
    StreamEvent,
    TokenUsage,
    ToolCall,
    ToolCallDelta,
)
from ..config import ProviderConfig
from ..errors import (
    BadUpstreamRequest,
    ContextLengthExceeded,
    MalformedResponse,
    ProviderError,
    RateLimited,
    UpstreamUnavailable,
)
from ..redact import Credentials, upstream_message
from ..urls import AddressPolicy
from .base import Provider
from .http import (
    api_key,
    make_client,
    post_json,
    stream_lines,
)

__all__ = ["AnthropicProvider"]

API_VERSION = "2023-06-01"
# Anthropic requires max_tokens; used when the caller sets none.
DEFAULT_MAX_TOKENS = 4096
_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _anthropic_messages(request: ChatRequest) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, messages) in Anthropic's shape; tool results become user blocks."""
    system: list[str] = []
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        # Anthropic wants alternating roles: merge consecutive same-role turns.
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for m in request.messages:
        if m.role in ("system", "developer"):
            system.append(m.text())
            continue
        if m.role == "tool":
            add(
                "user",
                [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.text()}],
            )
            continue
        blocks: list[dict[str, Any]] = []
        for p in m.parts:
            if p.image_url:
                blocks.append(_image_block(p.image_url))
            elif p.text:
                blocks.append({"type": "text", "text": p.text})
        if not m.parts and m.content:
            blocks.append({"type": "text", "text": m.content})
        for c in m.tool_calls:
            try:
                arguments = orjson.loads(c.arguments or "{}")
            except orjson.JSONDecodeError:
                arguments = {}
            blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": arguments})
        add("assistant" if m.role == "assistant" else "user", blocks)
    return "\n\n".join(system), out


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


class AnthropicProvider(Provider):
    """Speaks ``POST {base_url}/v1/messages``."""

    def __init__(self, config: ProviderConfig, policy: AddressPolicy | None = None) -> None:
        super().__init__(config)
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        key = api_key(config)
        if key:
            headers["x-api-key"] = key
        self._client = make_client(config, headers, policy)

    def payload(self, model: str, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The request body for ``model``."""
        system, messages = _anthropic_messages(request)
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [
                {
                    "name": t.name,
                    "description": t.description,
                    "input_schema": orjson.loads(t.parameters_json or '{"type":"object"}'),
                }
                for t in request.tools
            ]
        if request.tool_choice:
            body["tool_choice"] = (
                {"type": "tool", "name": request.tool_choice}
                if request.tool_choice_is_function
                else {
                    "type": {"auto": "auto", "none": "none", "required": "any"}[request.tool_choice]
                }
            )
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

    async def complete(self, model: str, request: ChatRequest, read_timeout: float) -> Completion:
        """One non-streaming call."""
        content = orjson.dumps(self.payload(model, request, stream=False))
        data: Any = await post_json(
            self._client, self.config, "/v1/messages", content, request, read_timeout
        )
        try:
            text = "".join(b["text"] for b in data["content"] if b["type"] == "text")
            calls = tuple(
                ToolCall(b["id"], b["name"], orjson.dumps(b.get("input") or {}).decode())
                for b in data["content"]
                if b["type"] == "tool_use"
            )
            usage = data["usage"]
            return Completion(
                content=text,
                tool_calls=calls,
                finish_reason=_STOP.get(data.get("stop_reason"), "stop"),  # type: ignore[arg-type]
                usage=TokenUsage(int(usage["input_tokens"]), int(usage["output_tokens"])),
                upstream_model=str(data.get("model") or model),
            )
        except (KeyError, TypeError, ValueError):
            raise MalformedResponse(f"{self.name} sent a message without content") from None

    async def stream(
        self, model: str, request: ChatRequest, read_timeout: float
    ) -> AsyncIterator[StreamEvent]:
        """Server-sent events: message_start ... message_stop."""
        content = orjson.dumps(self.payload(model, request, stream=True))
        lines = stream_lines(
            self._client, self.config, "/v1/messages", content, request, read_timeout
        )
        async with aclosing(lines):
            async for event in self._events(lines, request):
                yield event

    async def _events(
        self, lines: AsyncIterator[str], request: ChatRequest
    ) -> AsyncIterator[StreamEvent]:
        input_tokens = output_tokens = 0
        stop: Any = None
        tool_index: dict[int, int] = {}  # content block index -> tool call index
        async for line in lines:
            if not line.startswith("data:"):
                continue
            try:
                event: Any = orjson.loads(line[5:].strip())
                kind = event["type"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise MalformedResponse(f"{self.name} sent an invalid stream event") from None
            if kind == "message_start":
                input_tokens = int(event["message"]["usage"].get("input_tokens", 0))
            elif kind == "content_block_start":
                block = event["content_block"]
                if block.get("type") == "tool_use":
                    index = tool_index.setdefault(event["index"], len(tool_index))
                    yield StreamDelta(
                        tool_calls=(ToolCallDelta(index, block["id"], block["name"], ""),)
                    )
            elif kind == "content_block_delta":
                delta = event["delta"]
                if delta.get("type") == "text_delta" and delta.get("text"):
                    yield StreamDelta(content=delta["text"])
                elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                    index = tool_index.get(event["index"], 0)
                    yield StreamDelta(
                        tool_calls=(ToolCallDelta(index, arguments=delta["partial_json"]),)
                    )
            elif kind == "message_delta":
                stop = event.get("delta", {}).get("stop_reason") or stop
                output_tokens = int(event.get("usage", {}).get("output_tokens", output_tokens))
            elif kind == "message_stop":
                yield StreamEnd(
                    _STOP.get(stop, "stop"),  # type: ignore[arg-type]
                    TokenUsage(input_tokens, output_tokens),
                )
                return
            elif kind == "error":
                error = event.get("error") or {}
                raise _stream_error(self.name, error, request, self._client.credentials)
        raise MalformedResponse(f"{self.name} closed its stream before message_stop")

    def _rebase(self, url: str) -> None:
        self._client.base_url = url

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _stream_error(
    provider: str, error: dict[str, Any], request: ChatRequest, credentials: Credentials
) -> ProviderError:
    kind = str(error.get("type", ""))
    message = upstream_message(str(error.get("message", "")), credentials, request)
    if kind == "rate_limit_error":
        return RateLimited(f"{provider} rate limited mid-stream")
    if kind == "invalid_request_error":
        if "too long" in message or "context" in message:
            return ContextLengthExceeded(f"{provider}: {message}")
        return BadUpstreamRequest(f"{provider}: {message}")
    return UpstreamUnavailable(f"{provider} reported {kind or 'an error'} mid-stream")
