"""OpenAI-compatible chat completions: OpenAI, OpenRouter, vLLM, LM Studio, LocalAI, Ollama /v1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from ..chat import (
    ChatRequest,
    Completion,
    Message,
    StreamDelta,
    StreamEnd,
    StreamEvent,
    TokenUsage,
    ToolCall,
    ToolCallDelta,
)
from ..config import ProviderConfig
from ..errors import MalformedResponse, ProviderError
from ..redact import Credentials, upstream_message
from ..tokens import estimate_prompt_tokens
from ..urls import AddressPolicy
from .base import Provider
from .http import (
    api_key,
    make_client,
    post_json,
    stream_lines,
)

__all__ = ["OpenAICompatProvider", "finish_reason", "openai_messages"]

_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def finish_reason(value: Any, has_tool_calls: bool) -> str:
    """Normalise an upstream finish reason."""
    if has_tool_calls and value in (None, "stop", "tool_calls"):
        return "tool_calls"
    return _FINISH.get(str(value), "stop")


def openai_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Our messages in OpenAI's wire shape."""
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role}
        if m.parts:
            item["content"] = [
                {"type": "image_url", "image_url": {"url": p.image_url}}
                if p.image_url
                else {"type": "text", "text": p.text}
                for p in m.parts
            ]
        else:
            item["content"] = m.content if (m.content or not m.tool_calls) else None
        if m.name:
            item["name"] = m.name
        if m.tool_calls:
            item["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in m.tool_calls
            ]
        if m.tool_call_id:
            item["tool_call_id"] = m.tool_call_id
        out.append(item)
    return out


class OpenAICompatProvider(Provider):
    """Speaks ``POST {base_url}/chat/completions`` with SSE streaming."""

    def __init__(self, config: ProviderConfig, policy: AddressPolicy | None = None) -> None:
        super().__init__(config)
        key = api_key(config)
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        self._client = make_client(config, headers, policy)

    def payload(self, model: str, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The request body for ``model``."""
        body: dict[str, Any] = {"model": model, "messages": openai_messages(request.messages)}
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": orjson.loads(t.parameters_json or "{}"),
                        **({"strict": True} if t.strict else {}),
                    },
                }
                for t in request.tools
            ]
        if request.tool_choice:
            body["tool_choice"] = (
                {"type": "function", "function": {"name": request.tool_choice}}
                if request.tool_choice_is_function
                else request.tool_choice
            )
        for name in (
            "temperature",
            "top_p",
            "max_tokens",
            "seed",
            "presence_penalty",
            "frequency_penalty",
        ):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.stop:
            body["stop"] = list(request.stop)
        if request.user:
            body["user"] = request.user
        if request.response_format is not None:
            fmt: dict[str, Any] = {"type": request.response_format.type}
            if request.response_format.json_schema:
                fmt["json_schema"] = orjson.loads(request.response_format.json_schema)
            body["response_format"] = fmt
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def complete(self, model: str, request: ChatRequest, read_timeout: float) -> Completion:
        """One non-streaming call."""
        content = orjson.dumps(self.payload(model, request, stream=False))
        data: Any = await post_json(
            self._client, self.config, "/chat/completions", content, request, read_timeout
        )
        try:
            choice = data["choices"][0]
            message = choice["message"]
            calls = tuple(
                ToolCall(c["id"], c["function"]["name"], c["function"].get("arguments") or "{}")
                for c in message.get("tool_calls") or ()
            )
            text = message.get("content") or ""
            usage = data.get("usage") or {}
            tokens = TokenUsage(
                int(usage.get("prompt_tokens") or estimate_prompt_tokens(request)),
                int(usage.get("completion_tokens") or _estimate(text, calls)),
            )
            return Completion(
                content=text,
                tool_calls=calls,
                finish_reason=finish_reason(choice.get("finish_reason"), bool(calls)),  # type: ignore[arg-type]
                usage=tokens,
                upstream_model=str(data.get("model") or model),
            )
        except (KeyError, IndexError, TypeError, ValueError):
            raise MalformedResponse(f"{self.name} sent a response without a message") from None

    async def stream(
        self, model: str, request: ChatRequest, read_timeout: float
    ) -> AsyncIterator[StreamEvent]:
        """SSE stream of chat.completion.chunk objects, ending with [DONE]."""
        content = orjson.dumps(self.payload(model, request, stream=True))
        lines = stream_lines(
            self._client, self.config, "/chat/completions", content, request, read_timeout
        )
        async with aclosing(lines):
            async for event in self._events(lines, request):
                yield event

    async def _events(
        self, lines: AsyncIterator[str], request: ChatRequest
    ) -> AsyncIterator[StreamEvent]:
        finish: Any = None
        usage: dict[str, Any] = {}
        text_chars = 0
        saw_tools = False
        async for line in lines:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                if finish is None:
                    raise MalformedResponse(f"{self.name} ended its stream without a finish reason")
                yield StreamEnd(
                    finish_reason(finish, saw_tools),  # type: ignore[arg-type]
                    TokenUsage(
                        int(usage.get("prompt_tokens") or estimate_prompt_tokens(request)),
                        int(usage.get("completion_tokens") or -(-text_chars // 4)),
                    ),
                )
                return
            try:
                chunk: Any = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise MalformedResponse(f"{self.name} sent an invalid stream chunk") from None
            if not isinstance(chunk, dict):
                raise MalformedResponse(f"{self.name} sent an invalid stream chunk")
            if "error" in chunk:
                raise _stream_error(self.name, chunk["error"], request, self._client.credentials)
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                piece = delta.get("content") or ""
                calls = tuple(
                    ToolCallDelta(
                        index=int(c.get("index", 0)),
                        id=c.get("id") or "",
                        name=(c.get("function") or {}).get("name") or "",
                        arguments=(c.get("function") or {}).get("arguments") or "",
                    )
                    for c in delta.get("tool_calls") or ()
                )
                saw_tools = saw_tools or bool(calls)
                if piece or calls:
                    text_chars += len(piece) + sum(len(c.arguments) for c in calls)
                    yield StreamDelta(content=piece, tool_calls=calls)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        raise MalformedResponse(f"{self.name} closed its stream before [DONE]")

    def _rebase(self, url: str) -> None:
        self._client.base_url = url

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _estimate(text: str, calls: tuple[ToolCall, ...]) -> int:
    return -(-(len(text) + sum(len(c.arguments) for c in calls)) // 4)


def _stream_error(
    provider: str, error: Any, request: ChatRequest, credentials: Credentials
) -> ProviderError:
    from ..errors import UpstreamUnavailable

    message = error.get("message", "") if isinstance(error, dict) else str(error)
    text = upstream_message(str(message), credentials, request)
    return UpstreamUnavailable(f"{provider} reported an error mid-stream: {text}")
