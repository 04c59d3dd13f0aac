"""OpenAI-compatible chat completions: OpenAI, OpenRouter, vLLM, LM Studio, LocalAI, Ollama /v1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from .. import chat
from ..errors import MalformedResponse
from ..tokens import estimate_prompt_tokens
from .base import provider_kind
from .call import ProviderCall
from .http import HttpProvider

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


def openai_messages(messages: tuple[chat.Message, ...]) -> list[dict[str, Any]]:
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


@provider_kind("openai")
class OpenAICompatProvider(HttpProvider):
    """Speaks ``POST {base_url}/chat/completions`` with SSE streaming."""

    path = "/chat/completions"
    stream_end = "[DONE]"

    def encode(self, call: ProviderCall, *, stream: bool) -> dict[str, Any]:
        """The chat completions request body."""
        request = call.request
        body: dict[str, Any] = {"model": call.model, "messages": openai_messages(request.messages)}
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

    def decode(self, call: ProviderCall, data: Any) -> chat.Completion:
        """The first choice of a chat.completion object."""
        choice = data["choices"][0]
        message = choice["message"]
        calls = tuple(
            chat.ToolCall(c["id"], c["function"]["name"], c["function"].get("arguments") or "{}")
            for c in message.get("tool_calls") or ()
        )
        text = message.get("content") or ""
        usage = data.get("usage") or {}
        tokens = chat.TokenUsage(
            int(usage.get("prompt_tokens") or estimate_prompt_tokens(call.request)),
            int(usage.get("completion_tokens") or _estimate(text, calls)),
        )
        return chat.Completion(
            content=text,
            tool_calls=calls,
            finish_reason=finish_reason(choice.get("finish_reason"), bool(calls)),  # type: ignore[arg-type]
            usage=tokens,
            upstream_model=str(data.get("model") or call.model),
        )

    async def decode_stream(
        self, call: ProviderCall, events: AsyncIterator[str]
    ) -> AsyncIterator[chat.StreamEvent]:
        """chat.completion.chunk objects, ending with [DONE]."""
        finish: Any = None
        usage: dict[str, Any] = {}
        text_chars = 0
        saw_tools = False
        async for data in events:
            if data == "[DONE]":
                if finish is None:
                    raise MalformedResponse(f"{self.name} ended its stream without a finish reason")
                yield chat.StreamEnd(
                    finish_reason(finish, saw_tools),  # type: ignore[arg-type]
                    chat.TokenUsage(
                        int(usage.get("prompt_tokens") or estimate_prompt_tokens(call.request)),
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
                error = chunk["error"]
                message = error.get("message", "") if isinstance(error, dict) else str(error)
                raise self.reported(str(message), call)
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                piece = delta.get("content") or ""
                calls = tuple(
                    chat.ToolCallDelta(
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
                    yield chat.StreamDelta(content=piece, tool_calls=calls)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]


def _estimate(text: str, calls: tuple[chat.ToolCall, ...]) -> int:
    return -(-(len(text) + sum(len(c.arguments) for c in calls)) // 4)
