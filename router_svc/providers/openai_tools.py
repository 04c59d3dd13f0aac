"""Tool calls in OpenAI's chat completion object and chunk object, as OpenAI-compatible
servers really send them, for :mod:`.openai_compat` (and the arguments rule, for
:mod:`.ollama`).

Two rules, the same for a whole answer and a stream:

* ``function.arguments`` is JSON text (API reference, "The chat completion object":
  ``tool_calls[].function.arguments``, "a string of JSON"). An object or an array, as Ollama's
  native ``/api/chat`` and some compatible servers send it, is that JSON serialised to text;
  null or absent is no arguments; anything else (a number, a boolean) makes the answer, or
  the chunk, malformed (``TypeError``).
* A streamed call is told apart by its ``index`` (API reference, "The chat completion chunk
  object": ``delta.tool_calls[].index``), which some servers leave out or never increment
  (Gemini's OpenAI-compatible endpoint: open-webui/computer#224 for the missing index,
  NousResearch/hermes-agent#62937 for parallel calls that all come at one index). So an id
  not seen before is a new call wherever it comes, and so is a second entry of one chunk
  without id or index; an entry without either continues the latest call. Each call gets its
  own index, in the order the calls appear, and its id and name once: a server that repeats
  them on every fragment would otherwise have them concatenated by clients that join the
  fragments (the ``openai`` package's stream helpers do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import chat
from .openai_fields import string_field

__all__ = ["StreamedToolCalls", "tool_arguments", "whole_tool_calls"]


def tool_arguments(value: Any, *, absent: str) -> str:
    """``function.arguments`` as JSON text: a string as it is, an object or array serialised
    (orjson, compact), null or ``""`` as ``absent`` ("{}" for a whole call, "" for a
    fragment). TypeError for any other value."""
    if value is None or value == "":
        return absent
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    raise TypeError("arguments")


def whole_tool_calls(message: dict[str, Any]) -> tuple[chat.ToolCall, ...]:
    """The ``tool_calls`` of a chat completion's ``message`` (none when null or absent). A
    call needs its ``id`` and ``function.name`` (KeyError) as strings (TypeError); its
    arguments follow :func:`tool_arguments`."""
    raw = message.get("tool_calls") or ()
    if not isinstance(raw, list | tuple):
        raise TypeError("tool_calls")
    calls: list[chat.ToolCall] = []
    for call in raw:
        function = call["function"]
        call_id, name = call["id"], function["name"]
        if not isinstance(call_id, str) or not isinstance(name, str):
            raise TypeError("tool call id or name")
        arguments = tool_arguments(function.get("arguments"), absent="{}")
        calls.append(chat.ToolCall(call_id, name, arguments))
    return tuple(calls)


@dataclass
class StreamedToolCalls:
    """Which call each streamed ``tool_calls`` entry belongs to (see the module's rules).
    Mutable: :meth:`copy` it, :meth:`read` a chunk's entries into the copy, and keep the copy
    only when the whole chunk was read (a chunk found bad is skipped whole)."""

    ids: dict[str, int] = field(default_factory=dict)
    """Call id -> our index."""
    slots: dict[int, int] = field(default_factory=dict)
    """The upstream's ``index`` -> our index of the latest call given there."""
    names: dict[int, str] = field(default_factory=dict)
    """Our index -> the name relayed so far."""
    count: int = 0
    """Calls seen."""
    last: int | None = None
    """Our index of the call the latest entry belonged to."""

    def copy(self) -> StreamedToolCalls:
        """A copy to read the next chunk into."""
        return StreamedToolCalls(
            dict(self.ids), dict(self.slots), dict(self.names), self.count, self.last
        )

    def read(self, entries: Any) -> tuple[chat.ToolCallDelta, ...]:
        """Our fragments for one delta's ``tool_calls`` list, in order. TypeError for an
        entry of the wrong shape (an index that is not a non-negative integer among them);
        an entry carrying none of id, name and arguments (Gemini's ``extra_content``-only
        one, say) gives none."""
        if not isinstance(entries, list | tuple):
            raise TypeError("tool_calls")
        out = []
        for position, entry in enumerate(entries):
            delta = self._entry(entry, position)
            if delta is not None:
                out.append(delta)
        return tuple(out)

    def _entry(self, entry: Any, position: int) -> chat.ToolCallDelta | None:
        given = entry.get("index")
        if given is not None and (
            not isinstance(given, int) or isinstance(given, bool) or given < 0
        ):
            raise TypeError("index")
        call_id = string_field(entry.get("id"), "id")
        function = entry.get("function")
        if function is None:
            function = {}
        elif not isinstance(function, dict):
            raise TypeError("function")
        name = string_field(function.get("name"), "name")
        arguments = tool_arguments(function.get("arguments"), absent="")
        if not (call_id or name or arguments):
            return None
        repeated = call_id in self.ids
        index = self._index(given, call_id, position)
        if repeated:
            call_id = ""  # relayed with the call's first fragment
        relayed = self.names.get(index, "")
        if name == relayed:
            name = ""  # repeated
        elif name:
            self.names[index] = relayed + name
        return chat.ToolCallDelta(index, call_id, name, arguments)

    def _index(self, given: int | None, call_id: str, position: int) -> int:
        slot = self.slots.get(given) if given is not None else None
        if call_id in self.ids:
            index = self.ids[call_id]
        elif slot is not None and (not call_id or slot not in self.ids.values()):
            # The call at this index goes on (its id may come late, but only once).
            index = slot
        elif call_id or given is not None or position > 0 or self.last is None:
            index = self.count
            self.count += 1
        else:
            index = self.last
        if call_id:
            self.ids[call_id] = index
        if given is not None:
            self.slots[given] = index
        self.last = index
        return index
