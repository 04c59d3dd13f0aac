"""The ``input`` of an OpenAI Responses API request as the router's messages, checked on the way
(API reference, "Create a model response", ``input``: https://platform.openai.com/docs/api-reference/
responses/create; item shapes as the ``openai`` package types them, ``types/responses/
response_input_item_param.py``, ``easy_input_message_param.py``).

``input`` is a string (one user message) or a list of items:

* ``message`` (``type`` may be left out): role ``user``, ``system``, ``developer`` with content a
  string or ``input_text`` / ``input_image`` parts; role ``assistant`` with a string or
  ``output_text`` / ``refusal`` parts (what an answer's message item is, sent back).
* ``function_call`` (``call_id``, ``name``, ``arguments``): a tool call of the assistant. Calls
  that follow an assistant message, or each other, join that one assistant message (the
  router's history has one assistant turn per answer, its calls in it).
* ``function_call_output`` (``call_id``, ``output`` a string or ``input_text`` parts): a tool
  message.
* ``reasoning`` items (what our answers carry when the model reasoned, sent back): accepted and
  not forwarded, as the router carries no reasoning in the history.

Ids, ``status`` and ``phase`` of items sent back are accepted and not forwarded. Any other item
type (``item_reference`` needs stored responses; hosted tools' calls) or part type
(``input_file``, an image by ``file_id``) is refused with a 400 naming its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.errors import InvalidRequest
from gateway.translate.chat_fields import check_keys
from gateway.validate import (
    expect_list,
    expect_object,
    expect_one_of,
    expect_str,
    join,
    optional_str,
    required,
)
from llmrouter import chat_rules
from llmrouter.v1 import chat_pb2

__all__ = ["parse_input"]

_ROLES: Final[Mapping[str, chat_pb2.Role]] = {
    "user": chat_pb2.ROLE_USER,
    "system": chat_pb2.ROLE_SYSTEM,
    "developer": chat_pb2.ROLE_DEVELOPER,
    "assistant": chat_pb2.ROLE_ASSISTANT,
}
_STATUSES: Final = ("in_progress", "completed", "incomplete")
_PHASES: Final = ("commentary", "final_answer")
# The keys of each item type; ``id`` and ``status`` are what an answer's item comes back with.
_MESSAGE_KEYS: Final = frozenset(("type", "role", "content", "id", "status", "phase"))
# ``parsed_arguments`` and ``parsed``: what the openai package's stream and parse helpers add to
# an answer's items (sent back with them; not forwarded).
_CALL_KEYS: Final = frozenset(
    ("type", "call_id", "name", "arguments", "id", "status", "parsed_arguments")
)
_OUTPUT_KEYS: Final = frozenset(("type", "call_id", "output", "id", "status"))
_REASONING_KEYS: Final = frozenset(
    ("type", "id", "summary", "content", "encrypted_content", "status")
)
# The keys of each content part (``annotations`` and ``logprobs`` of an answer's output_text,
# sent back: accepted when empty, not forwarded).
_PART_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "input_text": frozenset(("type", "text")),
    "input_image": frozenset(("type", "image_url", "file_id", "detail")),
    "output_text": frozenset(("type", "text", "annotations", "logprobs", "parsed")),
    "refusal": frozenset(("type", "refusal")),
}
_INPUT_PARTS: Final = ("input_text", "input_image")
_ASSISTANT_PARTS: Final = ("output_text", "refusal")
_ITEM_TYPES: Final = ("message", "function_call", "function_call_output", "reasoning")


def parse_input(value: Any) -> list[chat_pb2.Message]:
    """``input`` (a string or a list of items) as the router's messages, in order.

    Raises InvalidRequest naming the path (``input[2].content[0].type``)."""
    if isinstance(value, str):
        return [chat_pb2.Message(role=chat_pb2.ROLE_USER, content=value)]
    items = expect_list(value, "input")
    if not items:
        raise InvalidRequest(
            "Invalid 'input': empty array. Expected an array with minimum length 1.", "input"
        )
    messages: list[chat_pb2.Message] = []
    for i, raw in enumerate(items):
        param = join("input", i)
        item = expect_object(raw, param)
        kind = "message" if item.get("type") is None else item["type"]
        if kind not in _ITEM_TYPES:
            type_param = join(param, "type")
            expect_str(kind, type_param)
            reason = (
                "item references need stored responses, which are not enabled"
                if kind == "item_reference"
                else f"items of type '{kind}' are not supported by this router"
            )
            raise InvalidRequest(
                f"Invalid value for '{type_param}': {reason}; use one of "
                f"{', '.join(repr(k) for k in _ITEM_TYPES)}.",
                type_param,
            )
        if kind == "message":
            messages.append(_message(item, param))
        elif kind == "function_call":
            call = _function_call(item, param)
            last = messages[-1] if messages else None
            if last is not None and last.role == chat_pb2.ROLE_ASSISTANT:
                last.tool_calls.append(call)
            else:
                messages.append(chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, tool_calls=[call]))
        elif kind == "function_call_output":
            messages.append(_function_call_output(item, param))
        else:
            _reasoning(item, param)
    if not messages:
        raise InvalidRequest("Invalid 'input': no message in it (reasoning items only).", "input")
    return messages


def _status(item: Mapping[str, Any], param: str) -> None:
    if item.get("status") is not None:
        expect_one_of(item["status"], join(param, "status"), _STATUSES)
    optional_str(item, "id", param)


def _message(item: Mapping[str, Any], param: str) -> chat_pb2.Message:
    check_keys(item, _MESSAGE_KEYS, param)
    role_name = expect_one_of(required(item, "role", param), join(param, "role"), _ROLES)
    _status(item, param)
    if item.get("phase") is not None:
        phase_param = join(param, "phase")
        expect_one_of(item["phase"], phase_param, _PHASES)
        if role_name != "assistant":
            raise InvalidRequest(
                f"Invalid parameter: '{phase_param}' is only allowed in assistant messages.",
                phase_param,
            )
    message = chat_pb2.Message(role=_ROLES[role_name])
    content = required(item, "content", param)
    content_param = join(param, "content")
    if isinstance(content, str):
        message.content = content
        return message
    parts = expect_list(content, content_param)
    if not parts:
        raise InvalidRequest(
            f"Invalid '{content_param}': empty array. Expected an array with minimum length 1.",
            content_param,
        )
    allowed = _ASSISTANT_PARTS if role_name == "assistant" else _INPUT_PARTS
    for j, raw in enumerate(parts):
        part_param = join(content_param, j)
        kind, part = _part(raw, part_param, allowed)
        if kind == "refusal":
            refusal = expect_str(required(part, "refusal", part_param), join(part_param, "refusal"))
            message.refusal += refusal
        elif kind == "input_image":
            message.content_parts.append(_image(part, part_param))
        else:
            text = expect_str(required(part, "text", part_param), join(part_param, "text"))
            message.content_parts.append(chat_pb2.ContentPart(text=text))
    return message


def _part(raw: Any, param: str, allowed: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """(type, part) of the content part at ``param``, its keys checked."""
    part = expect_object(raw, param)
    type_param = join(param, "type")
    kind = expect_str(required(part, "type", param), type_param)
    if kind not in allowed:
        raise InvalidRequest(
            f"Invalid value for '{type_param}': '{kind}' is not supported here; use one of "
            f"{', '.join(repr(k) for k in allowed)}.",
            type_param,
        )
    check_keys(part, _PART_KEYS[kind], param)
    for key in ("annotations", "logprobs"):
        if part.get(key) not in (None, []):
            path = join(param, key)
            raise InvalidRequest(
                f"Invalid '{path}': only an empty array is accepted (not forwarded).", path
            )
    return kind, part


def _image(part: Mapping[str, Any], param: str) -> chat_pb2.ContentPart:
    if part.get("file_id") is not None:
        path = join(param, "file_id")
        raise InvalidRequest(
            f"Unsupported parameter: '{path}': files are not available through this router; "
            "send the image as 'image_url' (a URL or a data: URI).",
            path,
        )
    url = expect_str(required(part, "image_url", param), join(param, "image_url"), non_empty=True)
    image = chat_pb2.ContentPart(image_url=url)
    if part.get("detail") is not None:
        image.detail = expect_one_of(
            part["detail"], join(param, "detail"), chat_rules.IMAGE_DETAILS
        )
    return image


def _function_call(item: Mapping[str, Any], param: str) -> chat_pb2.ToolCall:
    check_keys(item, _CALL_KEYS, param)
    _status(item, param)
    call_id = expect_str(required(item, "call_id", param), join(param, "call_id"), non_empty=True)
    name = expect_str(required(item, "name", param), join(param, "name"), non_empty=True)
    arguments = expect_str(required(item, "arguments", param), join(param, "arguments"))
    return chat_pb2.ToolCall(id=call_id, name=name, arguments=arguments)


def _function_call_output(item: Mapping[str, Any], param: str) -> chat_pb2.Message:
    """A tool message. ``output`` is a string or ``input_text`` parts (an image or a file in a
    tool's output is refused: the router's tool messages carry text only)."""
    check_keys(item, _OUTPUT_KEYS, param)
    _status(item, param)
    call_id = expect_str(required(item, "call_id", param), join(param, "call_id"), non_empty=True)
    message = chat_pb2.Message(role=chat_pb2.ROLE_TOOL, tool_call_id=call_id)
    output = required(item, "output", param)
    output_param = join(param, "output")
    if isinstance(output, str):
        message.content = output
        return message
    for k, raw in enumerate(expect_list(output, output_param)):
        part_param = join(output_param, k)
        _, part = _part(raw, part_param, ("input_text",))
        text = expect_str(required(part, "text", part_param), join(part_param, "text"))
        message.content_parts.append(chat_pb2.ContentPart(text=text))
    return message


def _reasoning(item: Mapping[str, Any], param: str) -> None:
    """A ``reasoning`` item sent back: checked for its shape, not forwarded."""
    check_keys(item, _REASONING_KEYS, param)
    _status(item, param)
    for key in ("summary", "content"):
        if item.get(key) is not None:
            expect_list(item[key], join(param, key))
    optional_str(item, "encrypted_content", param)
