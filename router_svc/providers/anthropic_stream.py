"""Reading a Messages stream (Anthropic API reference, "Streaming Messages"): token counts
and the event decoder of :class:`~.anthropic.AnthropicProvider`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson

from .. import chat
from ..errors import UpstreamPaused
from ..tokens import estimate_output_tokens, estimate_prompt_tokens
from .call import ProviderCall
from .counts import Counts, MalformedUsage
from .lenient import SHAPE_ERRORS, Garbled, StreamDecoder

if TYPE_CHECKING:
    from .anthropic import AnthropicProvider
    from .base import Provider

__all__ = [
    "PAUSE_TURN",
    "STOP_REASONS",
    "EventDecoder",
    "TokenCounts",
    "finish_reason",
    "thinking_text",
]

# Anthropic's stop reasons (API reference, "Handling stop reasons": end_turn, max_tokens,
# stop_sequence, tool_use, pause_turn, refusal, model_context_window_exceeded) as OpenAI's
# finish reasons. model_context_window_exceeded: the answer was cut at the model's window
# (not at max_tokens), a valid but capped answer: ``length``.
STOP_REASONS: dict[str, chat.FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# "We paused a long-running turn" (server tools): the answer is not finished, and the reference
# has the caller send it back to be continued. Not an answer: the attempt fails with
# UpstreamPaused (fails over; a stream with content relayed is continued by another model).
PAUSE_TURN = "pause_turn"


def finish_reason(provider: Provider, stop: Any, usage: chat.TokenUsage) -> chat.FinishReason:
    """The finish reason of a message that stopped with ``stop`` (None: the upstream gave
    none, ``stop``). Raises :class:`UpstreamPaused` (with ``usage``) for ``pause_turn``. A
    reason the table does not know (a newer API version's) is ``stop`` and counted in
    ``provider.unknown_stop_reasons`` (``llmrouter_unknown_stop_reasons_total``): the answer
    is kept, and the operator sees that the table needs a row."""
    if stop is None:
        return "stop"
    known = STOP_REASONS.get(stop)
    if known is not None:
        return known
    if stop == PAUSE_TURN:
        raise UpstreamPaused(f"{provider.name} paused its turn before finishing", usage)
    provider.unknown_stop_reasons += 1
    return "stop"


def thinking_text(block: Any) -> str:
    """The text of a content block if it is a ``thinking`` block, else "" ("Building with
    extended thinking": ``{"type": "thinking", "thinking": "...", "signature": "..."}``; the
    signature only lets the block be sent back, and a ``redacted_thinking`` block carries
    encrypted ``data``, no text). A shape error (AttributeError, TypeError) when the block is
    not an object or its text not a string."""
    return _thinking(block.get("thinking")) if block.get("type") == "thinking" else ""


class TokenCounts:
    """The token counts of one message (Messages API reference, the ``usage`` object).

    ``input_tokens`` excludes the prompt tokens read from or written to the prompt cache,
    counted beside it ("Total input tokens in a request is the summation of input_tokens,
    cache_creation_input_tokens, and cache_read_input_tokens"); OpenAI's ``prompt_tokens``
    includes them, so our prompt tokens are the sum. In a stream, message_start's usage is what
    is known at the start and message_delta's counts are cumulative ("Streaming Messages",
    "Event types"): each count is the latest non-zero one reported, as some servers report
    0 at the start and the real count at the end. Counts are read by the rule of
    :mod:`.counts`: an unreadable one keeps the count reported before it, and marks the usage
    estimated until a readable report of it comes.
    """

    _KEYS = (
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    )

    def __init__(self) -> None:
        self._counts = dict.fromkeys((*self._KEYS, _HOUR), 0)
        self._unreadable: set[str] = set()

    def update(self, usage: Any) -> set[str]:
        """Take the counts in ``usage`` (a ``usage`` object; None: none); returns the names of
        those that are unreadable (every count of a usage that is not an object). Never
        raises."""
        if usage is None:
            return set()
        report = Counts()
        if isinstance(usage, dict):
            for key in self._KEYS:
                report.read(key, usage.get(key))
            # The writes by cache lifetime (API reference, usage ``cache_creation``): the
            # 1-hour ones are priced apart (2x the input rate, the 5-minute ones 1.25x).
            creation = usage.get("cache_creation")
            if isinstance(creation, dict):
                report.read(_HOUR, creation.get(_HOUR))
            elif creation is not None:
                report.unreadable.add(_HOUR)
        else:
            report.unreadable.update(self._counts)
        counted = {key: value for key, value in report.values.items() if value > 0}
        self._counts.update(counted)
        self._unreadable = (self._unreadable - counted.keys()) | report.unreadable
        return report.unreadable

    @property
    def reported(self) -> bool:
        """Whether any count was reported yet (readable or not)."""
        return any(self._counts.values()) or bool(self._unreadable)

    def usage(
        self,
        *,
        prompt: Callable[[], int] | None = None,
        completion: Callable[[], int] | None = None,
    ) -> chat.TokenUsage:
        """The counts in OpenAI's sense (prompt tokens include the cached ones), estimated
        when some were unreadable; an unreadable input or output count is at least the
        ``prompt`` or ``completion`` estimate given (none: the count reported before it)."""
        counts, unreadable = self._counts, self._unreadable
        read = counts["cache_read_input_tokens"]
        write = counts["cache_creation_input_tokens"]
        uncached, output = counts["input_tokens"], counts["output_tokens"]
        if prompt is not None and "input_tokens" in unreadable:
            uncached = max(uncached, prompt() - read - write)
        if completion is not None and "output_tokens" in unreadable:
            output = max(output, completion())
        return chat.TokenUsage(
            prompt_tokens=uncached + read + write,
            completion_tokens=output,
            cache_read_tokens=read,
            cache_write_tokens=write,
            cache_write_1h_tokens=min(counts[_HOUR], write),
            estimated=bool(unreadable),
        )


class EventDecoder(StreamDecoder):
    """One Messages stream (API reference, "Streaming Messages", event flow): message_start,
    content blocks, message_delta (stop_reason and the cumulative usage), message_stop.
    Unknown event types are ignored, as the reference's versioning policy asks.

    A thinking block's text (extended thinking: content_block_start of type ``thinking``, its
    ``thinking_delta`` pieces, then a ``signature_delta`` without text) is the reasoning, kept
    apart from the answer's text; a ``redacted_thinking`` block has none to relay.

    A tool_use block's arguments are its input_json_delta pieces ("Input JSON delta"), or its
    ``input`` when content_block_start gives it whole; a tool without parameters sends only
    empty pieces (or none): its arguments are ``{}``, as in the unary answer.

    Every delta names its content block by ``index``; a text, thinking or input JSON delta for
    a block that never started, or that started as another type, is a chunk of unexpected
    shape (:mod:`.lenient`: the stream's failure before its first token, skipped and counted
    after it), never content of some other block.

    A usage with an unreadable count (:mod:`.counts`) makes its event unreadable before any
    content was relayed (message_start's always: its readable counts stay seen, for the failed
    attempt); after content the event is read and the count estimated at the end.
    """

    def __init__(self, provider: AnthropicProvider, call: ProviderCall) -> None:
        self._provider = provider
        self._call = call
        self._counts = TokenCounts()
        # Whether a delta was relayed, and its characters (text, reasoning, tool arguments).
        self._started = False
        self._chars = 0
        self._stop: Any = None
        self._finish: chat.FinishReason = "stop"
        self._tool_index: dict[int, int] = {}  # content block index -> tool call index
        self._blocks: dict[int, str] = {}  # content block index -> its type, once started
        # Tool calls (by index) that have sent no arguments yet; "{}" closes them.
        self._no_arguments: set[int] = set()
        # Tool calls whose input came whole at the start: later pieces would repeat it.
        self._whole: set[int] = set()

    def feed(self, payload: str) -> Iterable[chat.StreamEvent]:
        try:
            event: Any = orjson.loads(payload)
            kind = event["type"]
        except (orjson.JSONDecodeError, *SHAPE_ERRORS):
            raise Garbled from None
        if kind == "error":
            error = event.get("error")
            raise self._provider.stream_error(error if isinstance(error, dict) else {}, self._call)
        try:
            events = self._read(kind, event)
        except SHAPE_ERRORS:
            raise Garbled from None
        for out in events:
            if isinstance(out, chat.StreamDelta):
                self._started = True
                self._chars += len(out.content) + len(out.reasoning_content)
                self._chars += sum(len(c.arguments) for c in out.tool_calls)
        return events

    def _usage(self, usage: Any) -> None:
        """Take a usage object; before any content, one with an unreadable count is fatal."""
        unreadable = self._counts.update(usage)
        if unreadable and not self._started:
            raise MalformedUsage(unreadable)

    def _read(self, kind: Any, event: dict[str, Any]) -> list[chat.StreamEvent]:
        # Each branch reads everything it needs before it changes state.
        if kind == "message_start":
            message = event["message"]
            if not isinstance(message, dict):
                raise TypeError("message")
            # A message_start without usage is read; the counts come with message_delta.
            self._usage(message.get("usage"))
        elif kind == "content_block_start":
            block, position = event["content_block"], _position(event)
            opened = block.get("type")
            if not isinstance(opened, str) or self._blocks.get(position, opened) != opened:
                raise ValueError("a content block index restarted as another type")
            if opened == "tool_use":
                start = self._tool_start(position, block)
                self._blocks[position] = opened
                return [start]
            self._blocks[position] = opened
            # A thinking block opens empty; text it may open with is the reasoning's too.
            if thinking := thinking_text(block):
                return [chat.StreamDelta(reasoning_content=thinking)]
        elif kind == "content_block_delta":
            delta = event["delta"]
            self._check_block(_position(event), delta.get("type"))
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [chat.StreamDelta(content=str(delta["text"]))]
            if delta.get("type") == "thinking_delta":
                # signature_delta (just before the thinking block's content_block_stop)
                # carries no text: ignored with the other unknown deltas.
                if thinking := _thinking(delta.get("thinking")):
                    return [chat.StreamDelta(reasoning_content=thinking)]
                return []
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                index = self._tool_index[event["index"]]
                arguments = delta["partial_json"]
                if not isinstance(arguments, str):
                    raise TypeError("partial_json")  # JSON text in pieces, never a value
                if index in self._whole:
                    return []
                self._no_arguments.discard(index)
                return [
                    chat.StreamDelta(tool_calls=(chat.ToolCallDelta(index, arguments=arguments),))
                ]
        elif kind == "content_block_stop":
            stopped = event.get("index")
            closed = self._tool_index.get(stopped) if isinstance(stopped, int) else None
            if closed is not None:
                return self._empty_arguments({closed})
        elif kind == "message_delta":
            stop = (event.get("delta") or {}).get("stop_reason") or self._stop
            if not isinstance(stop, str | None):
                raise TypeError("stop_reason")
            self._usage(event.get("usage"))
            if stop != self._stop:
                # Once per stream: raises for a paused turn, counts an unknown reason.
                self._finish = finish_reason(self._provider, stop, self._counts.usage())
            self._stop = stop
            # A stream may be finalised from here on: no tool call is left without arguments.
            return self._empty_arguments(set(self._no_arguments))
        elif kind == "message_stop":
            return [*self._empty_arguments(set(self._no_arguments)), self._end()]
        return []

    def _check_block(self, position: int, delta: Any) -> None:
        """ValueError (a shape error: see .lenient) when a text, thinking or tool input delta
        is for a content block that never started, or that started as another type: its
        content belongs to nothing the client can be given (a tool call without id or name,
        or text merged into another call's arguments)."""
        wanted = _DELTA_BLOCKS.get(delta)
        if wanted is not None and self._blocks.get(position) != wanted:
            raise ValueError(f"{delta} for content block {position}, not a {wanted} block")

    def _tool_start(self, position: int, block: dict[str, Any]) -> chat.StreamDelta:
        call_id, name, given = str(block["id"]), str(block["name"]), block.get("input")
        if given is not None and not isinstance(given, dict):
            raise TypeError("input")
        arguments = orjson.dumps(given).decode() if given else ""
        new = position not in self._tool_index
        index = self._tool_index.setdefault(position, len(self._tool_index))
        if arguments:
            self._whole.add(index)
            self._no_arguments.discard(index)
        elif new:
            self._no_arguments.add(index)
        return chat.StreamDelta(tool_calls=(chat.ToolCallDelta(index, call_id, name, arguments),))

    def _empty_arguments(self, indexes: set[int]) -> list[chat.StreamEvent]:
        """``{}`` for those of the tool calls ``indexes`` that sent no arguments."""
        empty = sorted(indexes & self._no_arguments)
        self._no_arguments -= indexes
        if not empty:
            return []
        return [
            chat.StreamDelta(
                tool_calls=tuple(chat.ToolCallDelta(index, arguments="{}") for index in empty)
            )
        ]

    def _end(self) -> chat.StreamEnd:
        call = self._call
        usage = self._counts.usage(
            prompt=lambda: (
                estimate_prompt_tokens(call.request) + estimate_output_tokens(len(call.prefill))
            ),
            completion=lambda: estimate_output_tokens(self._chars),
        )
        return chat.StreamEnd(self._finish, usage)

    def seen(self) -> chat.TokenUsage | None:
        """The counts reported so far (message_start's, then message_delta's)."""
        return self._counts.usage() if self._counts.reported else None

    def finished(self) -> chat.StreamEnd | None:
        return self._end() if self._stop is not None else None


_HOUR = "ephemeral_1h_input_tokens"
# The deltas relayed to the client and the content block type each one belongs to ("Streaming
# Messages", "Content block delta types"); signature_delta and citations_delta carry nothing
# relayed and are not checked.
_DELTA_BLOCKS = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "tool_use"}


def _position(event: dict[str, Any]) -> int:
    """A content block event's ``index`` (KeyError when absent, TypeError when not an int)."""
    position = event["index"]
    if not isinstance(position, int) or isinstance(position, bool):
        raise TypeError("index")
    return position


def _thinking(value: Any) -> str:
    """A thinking block's or thinking_delta's ``thinking`` text; null is "" (TypeError when
    not a string)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError("thinking")
    return value
