"""Ollama's native ``POST /api/chat`` (NDJSON streaming; eval counts as usage)."""

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
from ..errors import MalformedResponse, UpstreamUnavailable
from ..redact import upstream_message
from ..tokens import estimate_prompt_tokens
from ..urls import AddressPolicy
from .base import Provider
from .http import (
    api_key,
    make_client,
    post_json,
    stream_lines,
)

__all__ = ["OllamaProvider"]


class OllamaProvider(Provider):
    """Speaks ``POST {base_url}/api/chat``."""

    def __init__(self, config: ProviderConfig, policy: AddressPolicy | None = None) -> None:
        super().__init__(config)
        headers = {"content-type": "application/json"}
        key = api_key(config)
        if key:
            headers["authorization"] = f"Bearer {key}"
        self._client = make_client(config, headers, policy)

    def payload(self, model: str, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The request body for ``model``."""
        messages: list[dict[str, Any]] = []
        for m in request.messages:
            item: dict[str, Any] = {
                "role": "system" if m.role == "developer" else m.role,
                "content": m.text(),
            }
            images = [p.image_url.split(";base64,", 1)[-1] for p in m.parts if p.image_url]
            if images:
                item["images"] = images
            if m.tool_calls:
                item["tool_calls"] = [
                    {"function": {"name": c.name, "arguments": _loads(c.arguments)}}
                    for c in m.tool_calls
                ]
            messages.append(item)
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
        if request.tools and request.tool_choice != "none":
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": _loads(t.parameters_json),
                    },
                }
                for t in request.tools
            ]
        options: dict[str, Any] = {}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.top_p is not None:
            options["top_p"] = request.top_p
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if request.seed is not None:
            options["seed"] = request.seed
        if request.stop:
            options["stop"] = list(request.stop)
        if options:
            body["options"] = options
        fmt = request.response_format
        if fmt is not None and fmt.type == "json_object":
            body["format"] = "json"
        elif fmt is not None and fmt.type == "json_schema" and fmt.json_schema:
            body["format"] = _loads(fmt.json_schema).get("schema", "json")
        return body

    async def complete(self, model: str, request: ChatRequest, read_timeout: float) -> Completion:
        """One non-streaming call."""
        content = orjson.dumps(self.payload(model, request, stream=False))
        data: Any = await post_json(
            self._client, self.config, "/api/chat", content, request, read_timeout
        )
        try:
            message = data["message"]
            calls = _calls(message.get("tool_calls") or ())
            return Completion(
                content=message.get("content") or "",
                tool_calls=calls,
                finish_reason=_finish(data.get("done_reason"), calls),  # type: ignore[arg-type]
                usage=_usage(data, request),
                upstream_model=str(data.get("model") or model),
            )
        except (KeyError, TypeError, ValueError):
            raise MalformedResponse(f"{self.name} sent a response without a message") from None

    async def stream(
        self, model: str, request: ChatRequest, read_timeout: float
    ) -> AsyncIterator[StreamEvent]:
        """NDJSON lines; the last has ``done: true`` and the eval counts."""
        content = orjson.dumps(self.payload(model, request, stream=True))
        lines = stream_lines(self._client, self.config, "/api/chat", content, request, read_timeout)
        calls_seen = 0
        async with aclosing(lines):
            async for line in lines:
                if not line.strip():
                    continue
                try:
                    data: Any = orjson.loads(line)
                    message = data.get("message") or {}
                except (orjson.JSONDecodeError, AttributeError):
                    raise MalformedResponse(f"{self.name} sent an invalid NDJSON line") from None
                if data.get("error"):
                    text = upstream_message(str(data["error"]), self._client.credentials, request)
                    raise UpstreamUnavailable(f"{self.name} reported an error mid-stream: {text}")
                calls = _calls(message.get("tool_calls") or (), start=calls_seen)
                calls_seen += len(calls)
                piece = message.get("content") or ""
                if piece or calls:
                    yield StreamDelta(
                        content=piece,
                        tool_calls=tuple(
                            ToolCallDelta(calls_seen - len(calls) + i, c.id, c.name, c.arguments)
                            for i, c in enumerate(calls)
                        ),
                    )
                if data.get("done"):
                    reason = _finish(data.get("done_reason"), calls_seen)
                    yield StreamEnd(reason, _usage(data, request))  # type: ignore[arg-type]
                    return
        raise MalformedResponse(f"{self.name} closed its stream before done")

    def _rebase(self, url: str) -> None:
        self._client.base_url = url

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}


def _calls(raw: Any, start: int = 0) -> tuple[ToolCall, ...]:
    return tuple(
        ToolCall(
            c.get("id") or f"call_{start + i}",
            c["function"]["name"],
            orjson.dumps(c["function"].get("arguments") or {}).decode(),
        )
        for i, c in enumerate(raw)
    )


def _finish(reason: Any, calls: object) -> str:
    if calls:
        return "tool_calls"
    return "length" if reason == "length" else "stop"


def _usage(data: Any, request: ChatRequest) -> TokenUsage:
    return TokenUsage(
        int(data.get("prompt_eval_count") or estimate_prompt_tokens(request)),
        int(data.get("eval_count") or 0),
    )
