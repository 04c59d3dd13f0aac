"""Ollama's native ``POST /api/chat`` (NDJSON streaming; eval counts as usage)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from .. import chat
from ..embeddings import EmbedCall, Embeddings
from ..tokens import estimate_output_tokens, estimate_prompt_tokens
from .base import provider_kind
from .call import ProviderCall
from .counts import Counts, MalformedUsage
from .embed_codecs import ollama_body, ollama_embeddings
from .http import HttpProvider
from .lenient import SHAPE_ERRORS, Garbled, StreamDecoder
from .openai_compat import prefill, tool_function
from .openai_tools import tool_arguments
from .unmapped import unmapped_field

__all__ = ["OllamaProvider"]


@provider_kind("ollama")
class OllamaProvider(HttpProvider):
    """Speaks ``POST {base_url}/api/chat``, and ``POST {base_url}/api/embed`` for embedding
    models."""

    path = "/api/chat"
    continues = True
    framing = "ndjson"
    stream_end = "done"
    # Ollama documents no limit on /api/embed's input list; the router keeps each call to a
    # size a local server answers well within a request's time.
    max_inputs = 512

    async def embed(self, call: EmbedCall) -> Embeddings:
        """``POST /api/embed`` (:mod:`.embed_codecs`)."""
        data = await self.post_embeddings("/api/embed", ollama_body(call), call)
        return ollama_embeddings(self.name, call, data)

    def encode(self, call: ProviderCall, *, stream: bool) -> dict[str, Any]:
        """The ``/api/chat`` request body (sampling settings go in ``options``)."""
        request = call.request
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
        if call.prefill:
            # /api/chat continues a final assistant message and answers with what follows it
            # (ollama/ollama#6778, the maintainers' answer; every template since #5890).
            prefill(messages, call.prefill)
        body: dict[str, Any] = {"model": call.model, "messages": messages, "stream": stream}
        if request.tools and request.tool_choice != "none":
            # OpenAI's function-tool shape, with only the keys the client gave: Ollama's server
            # reads ``description`` as optional and an absent ``parameters`` as it reads ``{}``
            # (api/types.go ToolFunction; its openapi.yaml lists ``parameters`` as required,
            # but nothing checks it). ``strict: true`` never gets here (.unmapped refuses it).
            body["tools"] = [
                {"type": "function", "function": tool_function(t)} for t in request.tools
            ]
        options: dict[str, Any] = {}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.top_p is not None:
            options["top_p"] = request.top_p
        if (limit := request.output_limit) is not None:
            # max_completion_tokens or max_tokens.
            options["num_predict"] = limit
        if request.seed is not None:
            options["seed"] = request.seed
        # Ollama API reference, "Generate a chat completion", ``options``: the Modelfile
        # parameters, presence_penalty and frequency_penalty among them.
        for name in ("presence_penalty", "frequency_penalty"):
            if (value := getattr(request, name)) is not None:
                options[name] = value
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

    def refuses(self, request: chat.ChatRequest) -> str:
        """Fields /api/chat has no counterpart for (README, "Request fields")."""
        if request.logprobs:
            return "logprobs"
        if request.top_logprobs is not None:
            return "top_logprobs"
        if request.reasoning_effort:
            return "reasoning_effort"
        if request.service_tier not in ("", "auto", "default"):
            # One tier: "auto" and "default" are what every request gets.
            return "service_tier"
        if request.tools and request.tool_choice not in ("", "auto", "none"):
            # /api/chat cannot force a call: "required" or one function would go unheeded.
            return "tool_choice"
        if request.tools and request.parallel_tool_calls is False:
            return "parallel_tool_calls"
        return unmapped_field(request, "ollama") or super().refuses(request)

    def decode(self, call: ProviderCall, data: Any) -> chat.Completion:
        """The message of a ``done`` answer, with its eval counts as usage."""
        message = data["message"]
        calls = _calls(message.get("tool_calls") or ())
        content, thinking = message.get("content") or "", _thinking(message)
        counts = _counts(data)
        if counts.unreadable:
            raise MalformedUsage(counts.unreadable)
        chars = len(content) + len(thinking) + sum(len(c.arguments) for c in calls)
        return chat.Completion(
            content=content,
            tool_calls=calls,
            finish_reason=_finish(data.get("done_reason"), calls),  # type: ignore[arg-type]
            usage=_usage(counts, call.request, chars),
            upstream_model=str(data.get("model") or call.model),
            reasoning_content=thinking,
        )

    def reported_usage(self, data: dict[str, Any]) -> chat.TokenUsage | None:
        """The eval counts an answer reports readably (estimated when some are not); None
        without any."""
        counts = _counts(data)
        return _usage(counts) if counts.reported else None

    def decoder(self, call: ProviderCall) -> StreamDecoder:
        """NDJSON lines; the last has ``done: true`` and the eval counts."""
        return _LineDecoder(self, call)


class _LineDecoder(StreamDecoder):
    """One /api/chat stream (API reference, "Generate a chat completion", streaming response):
    message lines, then a line with ``done: true``, its ``done_reason`` and eval counts (an
    unreadable one, :mod:`.counts`, makes the line unreadable before any content, and is
    estimated after it)."""

    def __init__(self, provider: OllamaProvider, call: ProviderCall) -> None:
        self._provider = provider
        self._call = call
        self._calls_seen = 0
        self._end: chat.StreamEnd | None = None
        # The eval counts of the finishing line, once read; whether a delta was relayed, and
        # the characters relayed.
        self._counts: Counts | None = None
        self._started = False
        self._chars = 0

    def feed(self, payload: str) -> Iterable[chat.StreamEvent]:
        try:
            data: Any = orjson.loads(payload)
            message = data.get("message") or {}
        except (orjson.JSONDecodeError, AttributeError):
            raise Garbled from None
        if data.get("error"):
            raise self._provider.reported(str(data["error"]), self._call)
        try:
            return self._read(data, message)
        except SHAPE_ERRORS:
            raise Garbled from None

    def _read(self, data: dict[str, Any], message: Any) -> list[chat.StreamEvent]:
        seen = self._calls_seen
        calls = _calls(message.get("tool_calls") or (), start=seen)
        piece = message.get("content") or ""
        if not isinstance(piece, str):
            raise TypeError("content")
        thinking = _thinking(message)
        # The finish: ``done: true``, or at least its ``done_reason`` (a line that carries it
        # is the last the model makes, whatever happens to the stream after it).
        counts = _counts(data) if data.get("done") or data.get("done_reason") else None
        if counts is not None and counts.unreadable and not self._started:
            self._counts = counts  # fatal here: what was readable is billed to the attempt
            raise MalformedUsage(counts.unreadable)
        chars = self._chars + len(piece) + len(thinking) + sum(len(c.arguments) for c in calls)
        events: list[chat.StreamEvent] = []
        if piece or calls or thinking:
            events.append(
                chat.StreamDelta(
                    content=piece,
                    tool_calls=tuple(
                        chat.ToolCallDelta(seen + i, c.id, c.name, c.arguments)
                        for i, c in enumerate(calls)
                    ),
                    reasoning_content=thinking,
                )
            )
        seen += len(calls)
        end = self._end
        if counts is not None:
            reason = _finish(data.get("done_reason"), seen)
            usage = _usage(counts, self._call.request, chars)
            end = chat.StreamEnd(reason, usage)  # type: ignore[arg-type]
            self._counts = counts
        self._calls_seen, self._end, self._chars = seen, end, chars
        self._started = self._started or bool(events)
        if data.get("done"):
            assert end is not None
            events.append(end)
        return events

    def finished(self) -> chat.StreamEnd | None:
        return self._end

    def seen(self) -> chat.TokenUsage | None:
        """The eval counts of the finishing line, as reported (None before it)."""
        counts = self._counts
        return _usage(counts) if counts is not None and counts.reported else None


def _thinking(message: Any) -> str:
    """A message's ``thinking`` (API reference, "Generate a chat completion": a thinking
    model's reasoning, ``message.thinking`` beside ``message.content``, whole or one piece per
    streamed line); "" when absent or null, TypeError when not a string."""
    thinking = message.get("thinking")
    if thinking is None:
        return ""
    if not isinstance(thinking, str):
        raise TypeError("thinking")
    return thinking


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}


def _calls(raw: Any, start: int = 0) -> tuple[chat.ToolCall, ...]:
    """The calls of a message's ``tool_calls``: ``function.arguments`` is an object in
    Ollama's API reference ("Chat request (with tools)"), and JSON text as the client reads
    it, by the rule OpenAI-compatible answers follow too (.openai_tools.tool_arguments)."""
    return tuple(
        chat.ToolCall(
            c.get("id") or f"call_{start + i}",
            c["function"]["name"],
            tool_arguments(c["function"].get("arguments"), absent="{}"),
        )
        for i, c in enumerate(raw)
    )


def _finish(reason: Any, calls: object) -> str:
    if calls:
        return "tool_calls"
    return "length" if reason == "length" else "stop"


def _counts(data: dict[str, Any]) -> Counts:
    """The eval counts of a ``done`` object (API reference, "Generate a chat completion",
    final response): ``prompt_eval_count``, ``eval_count``. Either may be absent: Ollama leaves
    ``prompt_eval_count`` out when the prompt came from its cache (ollama/ollama#2068, #3427;
    the Go struct's ``omitempty`` drops a 0 too)."""
    counts = Counts()
    counts.read("prompt_eval_count", data.get("prompt_eval_count"))
    counts.read("eval_count", data.get("eval_count"))
    return counts


def _usage(
    counts: Counts, request: chat.ChatRequest | None = None, chars: int = 0
) -> chat.TokenUsage:
    """Eval counts as usage: with a ``request`` (a finished answer of ``chars`` characters),
    a count not reported readably is the router's estimate, marked so; without, what was
    reported readably."""
    prompt, prompt_guessed = counts.settled(
        "prompt_eval_count", None if request is None else lambda: estimate_prompt_tokens(request)
    )
    completion, completion_guessed = counts.settled(
        "eval_count", None if request is None else lambda: estimate_output_tokens(chars)
    )
    return chat.TokenUsage(prompt, completion, estimated=prompt_guessed or completion_guessed)
