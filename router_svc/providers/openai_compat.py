"""OpenAI-compatible chat completions: OpenAI, OpenRouter, vLLM, LM Studio, LocalAI, Ollama /v1."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from .. import chat
from ..embeddings import EmbedCall, Embeddings
from ..errors import MalformedResponse
from ..tokens import estimate_output_tokens, estimate_prompt_tokens
from .base import provider_kind
from .call import ProviderCall
from .counts import Counts, MalformedUsage
from .embed_codecs import openai_body, openai_embeddings
from .http import HttpProvider
from .lenient import SHAPE_ERRORS, Garbled, StreamDecoder
from .openai_fields import (
    logprobs_json,
    reasoning_text,
    settled_usage,
    string_field,
    usage_counts,
)
from .openai_tools import StreamedToolCalls, whole_tool_calls

__all__ = [
    "OpenAICompatProvider",
    "finish_reason",
    "openai_messages",
    "prefill",
    "tool_function",
]

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


def prefill(messages: list[dict[str, Any]], text: str) -> None:
    """End ``messages`` (OpenAI or Ollama shape) with an assistant message ``text`` to
    continue; a final plain assistant message (the caller's own prefill) is extended."""
    last = messages[-1] if messages else None
    if (
        last is not None
        and last["role"] == "assistant"
        and isinstance(last.get("content"), str)
        and not last.get("tool_calls")
    ):
        last["content"] += text
    else:
        messages.append({"role": "assistant", "content": text})


def openai_messages(messages: tuple[chat.Message, ...]) -> list[dict[str, Any]]:
    """Our messages in OpenAI's wire shape. A ``cache_control`` (on a part or a message) goes
    where the client put it, as OpenRouter and LiteLLM read it; no other key of ours is added
    to those objects."""
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role}
        if m.parts:
            item["content"] = [_part(p) for p in m.parts]
        else:
            item["content"] = m.content if (m.content or not (m.tool_calls or m.refusal)) else None
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
        if m.refusal:
            # API reference, "Create chat completion", assistant message: refusal.
            item["refusal"] = m.refusal
        if m.cache_control is not None:
            item["cache_control"] = m.cache_control.json()
        out.append(item)
    return out


def _part(part: chat.ContentPart) -> dict[str, Any]:
    out: dict[str, Any]
    if part.image_url:
        image = {"url": part.image_url, **({"detail": part.detail} if part.detail else {})}
        out = {"type": "image_url", "image_url": image}
    else:
        out = {"type": "text", "text": part.text}
    if part.cache_control is not None:
        out["cache_control"] = part.cache_control.json()
    return out


# ChatRequest fields sent as they are, when set.
_PASSED = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "service_tier",
    "reasoning_effort",
    "parallel_tool_calls",
)


@provider_kind("openai")
class OpenAICompatProvider(HttpProvider):
    """Speaks ``POST {base_url}/chat/completions`` with SSE streaming, and ``POST
    {base_url}/embeddings`` for embedding models."""

    path = "/chat/completions"
    stream_end = "[DONE]"
    # OpenAI API reference, "Create embeddings", ``input``: "cannot be an empty string, and
    # any array must be 2048 dimensions or less" (at most 2048 inputs per call).
    max_inputs = 2048

    async def embed(self, call: EmbedCall) -> Embeddings:
        """``POST /embeddings`` (:mod:`.embed_codecs`)."""
        data = await self.post_embeddings("/embeddings", openai_body(call), call)
        return openai_embeddings(self.name, call, data)

    def encode(self, call: ProviderCall, *, stream: bool) -> dict[str, Any]:
        """The chat completions request body."""
        request = call.request
        body: dict[str, Any] = {"model": call.model, "messages": openai_messages(request.messages)}
        if call.prefill:
            # vLLM's OpenAI-compatible server, "Extra parameters" of the Chat API, and SGLang's
            # sampling parameters: continue_final_message continues the final assistant message
            # ("cannot be used at the same time as add_generation_prompt"). Plain OpenAI has no
            # such parameter: models there are configured without continuation.
            prefill(body["messages"], call.prefill)
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": tool_function(t),
                    **({"cache_control": t.cache_control.json()} if t.cache_control else {}),
                }
                for t in request.tools
            ]
        if request.tool_choice:
            body["tool_choice"] = (
                {"type": "function", "function": {"name": request.tool_choice}}
                if request.tool_choice_is_function
                else request.tool_choice
            )
        # Passed under the client's names, unchanged (README, "Request fields"): the upstream
        # judges what its model takes (reasoning models refuse max_tokens, for one).
        for name in _PASSED:
            value = getattr(request, name)
            if value is not None and value != "":
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
            if request.include_obfuscation is not None:
                # API reference, "Create chat completion", stream_options.include_obfuscation.
                body["stream_options"]["include_obfuscation"] = request.include_obfuscation
        return body

    def decode(self, call: ProviderCall, data: Any) -> chat.Completion:
        """The choice with ``index`` 0 of a chat.completion object (a choice without an
        index counts by its position): one answer per call."""
        choice = _first_choice(data["choices"])
        message = choice["message"]
        # Arguments as JSON text, an object or array serialised (.openai_tools).
        calls = whole_tool_calls(message)
        text = message.get("content") or ""
        # The reasoning text beside the answer (DeepSeek, vLLM, OpenRouter: see
        # openai_fields.REASONING_KEYS); its tokens are completion tokens too.
        thought = reasoning_text(message)
        # Counts the answer does not report (no usage object: servers that send none) are the
        # router's estimates, marked so; an unreadable one makes the answer malformed.
        counts = usage_counts(data.get("usage") or {})
        if counts.unreadable:
            raise MalformedUsage(counts.unreadable)
        tokens = settled_usage(
            counts,
            prompt=lambda: estimate_prompt_tokens(call.request),
            completion=lambda: _estimate(text + thought, calls),
            reasoning=lambda: estimate_output_tokens(len(thought)),
        )
        return chat.Completion(
            content=text,
            tool_calls=calls,
            finish_reason=finish_reason(choice.get("finish_reason"), bool(calls)),  # type: ignore[arg-type]
            usage=tokens,
            upstream_model=str(data.get("model") or call.model),
            refusal=string_field(message.get("refusal"), "refusal"),
            logprobs_json=logprobs_json(choice),
            service_tier=string_field(data.get("service_tier"), "service_tier"),
            system_fingerprint=string_field(data.get("system_fingerprint"), "system_fingerprint"),
            reasoning_content=thought,
        )

    def reported_usage(self, data: dict[str, Any]) -> chat.TokenUsage | None:
        """The counts a chat.completion object's ``usage`` reports readably (estimated when
        some are not); None without one."""
        usage = data.get("usage")
        return None if usage is None else settled_usage(usage_counts(usage))

    def decoder(self, call: ProviderCall) -> StreamDecoder:
        """chat.completion.chunk objects, ending with [DONE]."""
        return _ChunkDecoder(self, call)


class _ChunkDecoder(StreamDecoder):
    """One chat.completion.chunk stream (API reference, "The chat completion chunk object"):
    the finish reason comes on a choice, the usage (``stream_options.include_usage``) on a
    last chunk without choices, then ``data: [DONE]``.

    Usage counts follow :mod:`.counts`: a usage with an unreadable count makes its chunk
    unreadable before any content was relayed (its readable counts stay seen, for the failed
    attempt); after content the chunk is read, its readable counts kept and the others
    estimated at the end. A stream that reports no usage is billed the router's estimates."""

    def __init__(self, provider: OpenAICompatProvider, call: ProviderCall) -> None:
        self._provider = provider
        self._call = call
        self._finish: Any = None
        # The counts reported so far (vLLM sends them with every chunk, OpenAI at the end).
        self._counts = Counts()
        # Whether a delta was relayed, and the characters relayed (reasoning apart too).
        self._started = False
        self._text_chars = 0
        self._thought_chars = 0
        self._saw_tools = False
        self._calls = StreamedToolCalls()
        # Top-level service_tier and system_fingerprint ("The chat completion chunk object"),
        # the latest a chunk gave: every delta carries them.
        self._tier = ""
        self._fingerprint = ""

    def feed(self, payload: str) -> Iterable[chat.StreamEvent]:
        if payload == "[DONE]":
            end = self.finished()
            if end is None:
                name = self._provider.name
                raise MalformedResponse(f"{name} ended its stream without a finish reason")
            return (end,)
        try:
            chunk: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise Garbled from None
        if not isinstance(chunk, dict):
            raise Garbled
        if "error" in chunk:
            error = chunk["error"]
            if not isinstance(error, dict):
                raise self._provider.reported(str(error), self._call)
            code = error.get("code") or error.get("type")
            message = str(error.get("message", ""))
            raise self._provider.reported(
                message, self._call, code if isinstance(code, str) else ""
            )
        try:
            return self._read(chunk)
        except SHAPE_ERRORS:
            raise Garbled from None

    def _read(self, chunk: dict[str, Any]) -> list[chat.StreamEvent]:
        # Read the whole chunk before changing any state: a chunk found bad halfway is skipped
        # as a whole.
        usage = usage_counts(chunk["usage"]) if chunk.get("usage") else None
        if usage is not None and usage.unreadable and not self._started:
            self._counts.merge(usage)  # fatal here: what was readable is billed to the attempt
            raise MalformedUsage(usage.unreadable)
        tier = string_field(chunk.get("service_tier"), "service_tier") or self._tier
        fingerprint = string_field(chunk.get("system_fingerprint"), "system_fingerprint")
        fingerprint = fingerprint or self._fingerprint
        events: list[chat.StreamEvent] = []
        finish, chars, thoughts, tools = self._finish, 0, 0, False
        tracker: StreamedToolCalls | None = None
        for choice in chunk.get("choices") or ():
            if choice.get("index") not in (0, None):
                # One answer per call, like decode()'s choices[0]: another choice (an upstream
                # that answered n > 1 anyway) must not be merged into it.
                continue
            delta = choice.get("delta") or {}
            piece = delta.get("content") or ""
            if not isinstance(piece, str):
                raise TypeError("content")
            calls: tuple[chat.ToolCallDelta, ...] = ()
            if delta.get("tool_calls"):
                # Which call each entry belongs to (.openai_tools: an index may be missing).
                tracker = tracker or self._calls.copy()
                calls = tracker.read(delta["tool_calls"])
            tools = tools or bool(calls)
            refusal, logprobs = string_field(delta.get("refusal"), "refusal"), logprobs_json(choice)
            thought = reasoning_text(delta)
            if piece or calls or refusal or logprobs or thought:
                chars += len(piece) + len(refusal) + len(thought)
                thoughts += len(thought)
                chars += sum(len(c.arguments) for c in calls)
                events.append(
                    chat.StreamDelta(piece, calls, refusal, logprobs, tier, fingerprint, thought)
                )
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        if usage is not None:
            self._counts.merge(usage)
        self._finish = finish
        self._calls = tracker or self._calls
        self._tier, self._fingerprint = tier, fingerprint
        self._text_chars += chars
        self._thought_chars += thoughts
        self._started = self._started or bool(events)
        self._saw_tools = self._saw_tools or tools
        return events

    def seen(self) -> chat.TokenUsage | None:
        """The counts reported so far (vLLM's ``continuous_usage_stats`` sends them with
        every chunk; OpenAI only at the end), built when read; None before any."""
        if not self._counts.reported:
            return None
        return settled_usage(self._counts)

    def finished(self) -> chat.StreamEnd | None:
        if self._finish is None:
            return None
        return chat.StreamEnd(
            finish_reason(self._finish, self._saw_tools),  # type: ignore[arg-type]
            settled_usage(
                self._counts,
                prompt=lambda: estimate_prompt_tokens(self._call.request),
                completion=lambda: estimate_output_tokens(self._text_chars),
                reasoning=lambda: estimate_output_tokens(self._thought_chars),
            ),
            service_tier=self._tier,
            system_fingerprint=self._fingerprint,
        )


def _first_choice(choices: Any) -> Any:
    """The choice with ``index`` 0 (API reference, ``choices[].index``), else the first listed
    without an index; KeyError when there is none (a malformed answer)."""
    for position, choice in enumerate(choices):
        if choice.get("index", position) == 0:
            return choice
    raise KeyError("choices")


def tool_function(tool: chat.Tool) -> dict[str, Any]:
    """A tool's ``function`` object with what the client gave and nothing more (API reference,
    "Create chat completion", tools: ``description`` and ``parameters`` are optional, and an
    absent ``parameters`` means a function without parameters, not ``{}``).

    Shape: ``{"name", "description"?, "parameters"?, "strict"?}``; Ollama's ``/api/chat``
    takes the same object (see .ollama)."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description or tool.description_given:
        function["description"] = tool.description
    if tool.parameters_json:
        function["parameters"] = orjson.loads(tool.parameters_json)
    if tool.strict:
        function["strict"] = True
    return function


def _estimate(text: str, calls: tuple[chat.ToolCall, ...]) -> int:
    return estimate_output_tokens(len(text) + sum(len(c.arguments) for c in calls))
