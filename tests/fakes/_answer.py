"""What the fake model says (deterministic), and the interface each wire format implements."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "TOOL_ARGUMENTS",
    "Answer",
    "JSONObject",
    "Reported",
    "Stream",
    "WireFormat",
    "dumps",
    "make_answer",
    "patched",
    "split",
]

JSONObject = dict[str, Any]
TOOL_ARGUMENTS: JSONObject = {"city": "Paris"}


def dumps(value: object) -> bytes:
    """Compact JSON, as the real APIs send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Reported:
    """How an answer's usage and tool input are reported, where a provider has choices."""

    cache_read_tokens: int = 0
    """Prompt tokens read from the provider's prompt cache."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's prompt cache."""
    start_usage: Literal["full", "zero", "absent"] = "full"
    """Anthropic streaming: ``message_start``'s usage (see ``Behavior.start_usage``)."""
    tool_input_whole: bool = False
    """Anthropic streaming: the tool input whole in ``content_block_start``."""
    reasoning_tokens: int = 0
    """OpenAI: completion tokens spent reasoning (counted in ``completion_tokens`` too)."""
    usage_details: Literal["full", "absent", "null"] = "full"
    """OpenAI: the ``*_tokens_details`` objects as the API sends them, left out (as older
    OpenAI-compatible servers do) or ``null``."""
    refusal: bool = False
    """OpenAI: the text is a refusal (``message.refusal``, ``delta.refusal``), not content."""
    logprobs: int | None = None
    """OpenAI: log probabilities were asked for, with this many alternatives per token."""
    stop_reason: str | None = None
    """Anthropic: the ``stop_reason`` sent instead of the one the answer implies."""
    continuous_usage: bool = False
    """OpenAI streaming: the running usage in every content chunk (vLLM)."""
    choices_reversed: bool = False
    """OpenAI: another choice (``index`` 1) listed before the answer."""
    cache_write_1h_tokens: int = 0
    """Anthropic: the part of the cache writes written to the 1-hour cache."""
    service_tier: str | None = None
    """OpenAI: the top-level ``service_tier`` (None: no key)."""
    system_fingerprint: str | None = None
    """OpenAI: the top-level ``system_fingerprint`` (None: ``null``)."""
    reasoning: str | None = None
    """The model's reasoning text before its answer (None: a model that gives none)."""
    reasoning_keys: tuple[str, ...] = ("reasoning_content",)
    """OpenAI-compatible: the message/delta keys carrying ``reasoning``, each the same text."""
    redacted_thinking: bool = False
    """Anthropic: a ``redacted_thinking`` block after the thinking block."""
    usage_patch: Mapping[str, Any] | None = None
    """The final usage's keys replaced (see ``Behavior.usage_patch`` and :func:`patched`)."""
    start_usage_patch: Mapping[str, Any] | None = None
    """Anthropic streaming: message_start's usage keys replaced likewise."""
    omit_usage: bool = False
    """OpenAI-compatible: no usage reported at all (see ``Behavior.omit_usage``)."""
    more_tool_calls: tuple[JSONObject, ...] = ()
    """OpenAI: the inputs of further calls to the chosen tool in the same answer (parallel
    tool calls), after the first."""
    tool_call_index: Literal["given", "absent", "zero"] = "given"
    """OpenAI streaming: how ``delta.tool_calls[].index`` comes (see ``Behavior``)."""
    tool_calls_together: bool = False
    """OpenAI streaming without indices: all calls in the first chunk."""
    tool_arguments_object: bool = False
    """OpenAI: ``function.arguments`` as a JSON object instead of a string of JSON."""

    @property
    def reasoning_pieces(self) -> tuple[str, ...]:
        """``reasoning`` cut in (up to) two streamed pieces; none without reasoning."""
        return split(self.reasoning, 2) if self.reasoning else ()


@dataclass(frozen=True)
class Answer:
    """One deterministic reply: text or a single tool call, already cut into pieces."""

    seq: int
    """Request number on this server; makes ids unique and predictable."""
    model: str
    pieces: tuple[str, ...]
    """Text pieces, or pieces of the tool call's JSON arguments when ``tool_name`` is set."""
    tool_name: str | None
    prompt_tokens: int
    stop: Literal["stop", "tool", "length"]
    created: int
    arguments: JSONObject = field(default_factory=lambda: dict(TOOL_ARGUMENTS))
    """The tool call's input when ``tool_name`` is set."""
    reported: Reported = field(default_factory=Reported)

    @property
    def completion_tokens(self) -> int:
        """One token per piece."""
        return len(self.pieces)

    @property
    def text(self) -> str:
        """The whole text (or the whole JSON arguments string)."""
        return "".join(self.pieces)


@dataclass(frozen=True)
class Stream:
    """A streamed reply as body frames: ``pieces`` carry content; ``cut_after`` counts them."""

    media_type: str
    head: tuple[bytes, ...]
    pieces: tuple[bytes, ...]
    tail: tuple[bytes, ...]
    end_marker: int = 0
    """How many of the last ``tail`` frames only mark the end (after the finish and usage)."""


class WireFormat(ABC):
    """One provider API: how it reads a request and how it writes answers and errors."""

    stream_media_type: ClassVar[str]
    stream_by_default: ClassVar[bool] = False
    malformed_body: ClassVar[bytes] = b'{"id": "broken", "choices": ['
    """A 200 body that stops in the middle of a JSON object."""

    def check(self, headers: Mapping[str, str], body: object) -> tuple[int, str] | None:
        """An error (status, message) the real API would return for this request, if any."""
        if not isinstance(body, dict):
            return 400, "request body must be a JSON object"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return 400, "model is required"
        if not isinstance(body.get("messages"), list):
            return 400, "messages must be a list"
        return None

    def wants_stream(self, body: JSONObject) -> bool:
        """Whether the client asked for a streamed reply."""
        return bool(body.get("stream", self.stream_by_default))

    def prefill(self, body: JSONObject) -> str | None:
        """The assistant text this request asks the model to continue (None: a new answer).

        The default: a final assistant message is continued (Anthropic, Ollama)."""
        messages = body.get("messages")
        last = messages[-1] if isinstance(messages, list) and messages else None
        if not isinstance(last, dict) or last.get("role") != "assistant":
            return None
        return _text(last.get("content"))

    @abstractmethod
    def max_tokens(self, body: JSONObject) -> int | None:
        """The request's completion token limit, if it sets one."""

    @abstractmethod
    def reply(self, answer: Answer) -> JSONObject:
        """The non-streaming response body."""

    @abstractmethod
    def stream(self, answer: Answer, body: JSONObject) -> Stream:
        """The streaming response, frame by frame."""

    @abstractmethod
    def malformed_frame(self) -> bytes:
        """A stream frame whose payload is not JSON."""

    @abstractmethod
    def error(self, status: int, message: str, code: str) -> JSONObject:
        """An error body in this API's shape."""

    @abstractmethod
    def stream_error(self, message: str, code: str) -> bytes:
        """The frame this API sends when it fails after a 200 streaming answer began."""


def patched(usage: JSONObject, patch: Mapping[str, Any] | None) -> JSONObject:
    """``usage`` (a copy) with each key of ``patch`` set to its value, a dotted key naming a
    nested one (``"prompt_tokens_details.cached_tokens"``); the value ``...`` removes the key."""
    out: JSONObject = json.loads(json.dumps(usage))
    for path, value in (patch or {}).items():
        *parents, key = path.split(".")
        where = out
        for parent in parents:
            where = where.setdefault(parent, {})
        if value is ...:
            where.pop(key, None)
        else:
            where[key] = value
    return out


def split(text: str, count: int) -> tuple[str, ...]:
    """``text`` cut into ``count`` non-empty pieces of near-equal length (fewer if too short)."""
    count = max(1, min(count, len(text)))
    size, extra = divmod(len(text), count)
    pieces, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return tuple(pieces)


def make_answer(
    body: JSONObject,
    *,
    seq: int,
    chunks: int,
    max_tokens: int | None,
    text: str | None = None,
    prefill: str | None = None,
    prompt_tokens: int | None = None,
    arguments: JSONObject | None = None,
    reported: Reported | None = None,
) -> Answer:
    """The answer to ``body``: a call to the chosen tool, else ``text`` (default
    "Hello from <model>."). With a ``prefill`` the answer is what follows it: the pieces of
    the whole text that it does not cover, the first one cut where it ends (when the text does
    not start with it, the whole text follows it). ``prompt_tokens`` (default: estimated),
    the tool's ``arguments`` (default: ``TOOL_ARGUMENTS``) and how usage is ``reported`` are the
    test's to choose."""
    arguments = dict(TOOL_ARGUMENTS) if arguments is None else arguments
    model = str(body["model"])
    tool = _pick_tool(body) if prefill is None else None
    if tool is not None:
        pieces = split(json.dumps(arguments), chunks)
        stop: Literal["stop", "tool", "length"] = "tool"
    else:
        pieces = split(f"Hello from {model}." if text is None else text, chunks)
        if prefill and "".join(pieces).startswith(prefill):
            pieces = _after(pieces, len(prefill))
        stop = "stop"
        if max_tokens is not None and 0 < max_tokens < len(pieces):
            pieces, stop = pieces[:max_tokens], "length"
    return Answer(
        seq=seq,
        model=model,
        pieces=pieces,
        tool_name=tool,
        prompt_tokens=_prompt_tokens(body) if prompt_tokens is None else prompt_tokens,
        stop=stop,
        created=int(time.time()),
        arguments=arguments,
        reported=reported or Reported(),
    )


def _after(pieces: tuple[str, ...], covered: int) -> tuple[str, ...]:
    """``pieces`` without their first ``covered`` characters."""
    out: list[str] = []
    for piece in pieces:
        if covered >= len(piece):
            covered -= len(piece)
            continue
        out.append(piece[covered:])
        covered = 0
    return tuple(out)


def _text(content: object) -> str:
    """The text of a message's ``content``: a string or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _pick_tool(body: JSONObject) -> str | None:
    """The tool to call: the one ``tool_choice`` names, else the first; None if no tool applies."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    names = [_tool_name(tool) for tool in tools]
    choice = body.get("tool_choice")
    if choice == "none" or (isinstance(choice, dict) and choice.get("type") == "none"):
        return None
    if isinstance(choice, dict):
        # OpenAI {"type": "function", "function": {"name"}}; Anthropic {"type": "tool", "name"}.
        function = choice.get("function")
        named = function.get("name") if isinstance(function, dict) else choice.get("name")
        if isinstance(named, str) and named:
            return named
    return names[0] or "tool"


def _tool_name(tool: object) -> str:
    if not isinstance(tool, dict):
        return ""
    function = tool.get("function")
    name = function.get("name") if isinstance(function, dict) else tool.get("name")
    return name if isinstance(name, str) else ""


def _prompt_tokens(body: JSONObject) -> int:
    """Characters of all message text (and the system prompt) // 4 + 1."""
    chars = _text_length(body.get("system"))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            chars += _text_length(message.get("content"))
    return chars // 4 + 1


def _text_length(content: object) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(part["text"])
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return 0
