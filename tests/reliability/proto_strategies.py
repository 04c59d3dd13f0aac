"""Hypothesis strategies for any protobuf message, built from its descriptor.

Values are well-typed for the wire (so the message serializes) but otherwise hostile: unknown
enum numbers, NaN and infinities, extreme integers, timestamps outside what datetime can hold,
empty, huge and non-ASCII strings, and now and then a name the services really know.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor, message
from google.protobuf import message_factory as factory
from hypothesis import strategies as st

__all__ = ["chat_requests", "messages"]

FD = descriptor.FieldDescriptor
# Names that make a request reach deeper code paths than random text would.
KNOWN = (
    "",
    "auto",
    "sim-small",
    "sim-large",
    "fake-openai",
    "fake-anthropic",
    "fake-ollama",
    "gpt-4o",
    "provider",
    "model",
    "category",
    "source",
    "api_key",
    "hour",
    "day",
    "code",
    "{}",
    '{"type": "object"}',
    "[1, 2]",
    "not json {",
)
_TEXT = st.one_of(
    st.sampled_from(KNOWN),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.just("x" * 5000),
)
_INT32 = st.integers(-(2**31), 2**31 - 1)
_INT64 = st.integers(-(2**63), 2**63 - 1)
_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FD.TYPE_STRING: _TEXT,
    FD.TYPE_BYTES: st.binary(max_size=64),
    FD.TYPE_BOOL: st.booleans(),
    FD.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    FD.TYPE_FLOAT: st.floats(allow_nan=True, allow_infinity=True, width=32),
    FD.TYPE_INT32: st.one_of(st.integers(-3, 10), _INT32),
    FD.TYPE_SINT32: _INT32,
    FD.TYPE_SFIXED32: _INT32,
    FD.TYPE_INT64: st.one_of(st.integers(-3, 10), _INT64),
    FD.TYPE_SINT64: _INT64,
    FD.TYPE_SFIXED64: _INT64,
    FD.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FD.TYPE_FIXED32: st.integers(0, 2**32 - 1),
    FD.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FD.TYPE_FIXED64: st.integers(0, 2**64 - 1),
    FD.TYPE_ENUM: st.integers(-2, 8),  # proto3 enums are open: unknown numbers arrive too
}
# Timestamps and durations: ordinary values, and ones beyond what datetime can represent.
_SECONDS = st.one_of(
    st.integers(1_600_000_000, 1_900_000_000), st.integers(-(2**40), 2**40), _INT64
)


def messages(desc: descriptor.Descriptor, depth: int = 3) -> st.SearchStrategy[message.Message]:
    """Messages of type ``desc`` with any subset of their fields set."""
    cls = factory.GetMessageClass(desc)
    if desc.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        return st.builds(
            lambda s, n: cls(seconds=s, nanos=n),
            _SECONDS,
            st.integers(-(10**9), 10**9),
        )
    fields = [f for f in desc.fields if depth > 0 or f.type != FD.TYPE_MESSAGE]
    values = {f.name: st.none() | _field(f, depth) for f in fields}
    return st.fixed_dictionaries(values).map(lambda chosen: _build(cls, chosen))


def _field(field: FD, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key = field.message_type.fields_by_name["key"]
        value = field.message_type.fields_by_name["value"]
        return st.dictionaries(_single(key, depth - 1), _single(value, depth - 1), max_size=3)
    if field.is_repeated:
        return st.lists(_single(field, depth - 1), max_size=3)
    return _single(field, depth - 1)


def _single(field: FD, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FD.TYPE_MESSAGE:
        return messages(field.message_type, depth)
    return _SCALARS[field.type]


def _build(cls: type[message.Message], chosen: dict[str, Any]) -> message.Message:
    built = cls()
    for name, value in chosen.items():
        if value is None:
            continue
        field = built.DESCRIPTOR.fields_by_name[name]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target = getattr(built, name)
            for k, v in value.items():
                if isinstance(v, message.Message):
                    target[k].CopyFrom(v)
                else:
                    target[k] = v
        elif field.is_repeated:
            getattr(built, name).extend(value)
        elif field.type == FD.TYPE_MESSAGE:
            getattr(built, name).CopyFrom(value)
        else:
            setattr(built, name, value)
    return built


def chat_requests(desc: descriptor.Descriptor) -> st.SearchStrategy[message.Message]:
    """Requests holding a ``chat`` (RouterService), half of them repaired into ones the router
    accepts so that fuzzing reaches routing, the providers and the answers, not only checks."""
    return st.tuples(messages(desc), st.booleans()).map(lambda pair: _plausible(*pair))


def _plausible(request: Any, repair: bool) -> Any:
    if not repair:
        return request
    chat = request.chat
    if not chat.messages:
        chat.messages.add(role=2, content="hello")
    for m in chat.messages:
        if not 1 <= m.role <= 5:
            m.role = 2
        if m.role != 3:
            del m.tool_calls[:]
        for call in m.tool_calls:
            call.name = call.name or "f"
        if m.role == 4 and not m.tool_call_id:
            m.tool_call_id = "call-1"
    for i, tool in enumerate(chat.tools):
        tool.name = f"tool_{i}"
    marked = [*chat.messages, *(p for m in chat.messages for p in m.content_parts), *chat.tools]
    for holder in marked:
        if holder.HasField("cache_control"):
            holder.cache_control.type = "ephemeral"
            if holder.cache_control.ttl not in ("5m", "1h"):
                holder.cache_control.ttl = ""
    if chat.tool_choice.WhichOneof("choice") == "function_name":
        chat.tool_choice.mode = 1
    return request
