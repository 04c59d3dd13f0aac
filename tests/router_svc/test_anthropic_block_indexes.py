"""Anthropic stream deltas belong to the content block their ``index`` names ("Streaming
Messages": content_block_start, its deltas, content_block_stop, each with the block's index).
A text, thinking or tool input delta for a block that never started, or that started as
another type, is an unexpected shape: the stream's classified failure before its first token
(the request fails over), a skipped and counted chunk after it; never a tool call without id
or name, nor text in another call's arguments."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router_svc.errors import MalformedResponse

from .test_stream_parsers import PROVIDERS, answer_of, run, sample
from .test_tool_call_parsers import calls_of


def delta(index: int, **fields: Any) -> str:
    return json.dumps({"type": "content_block_delta", "index": index, "delta": fields})


STRAY_TOOL_INPUT = delta(7, type="input_json_delta", partial_json='{"x": 1}')
# (stray event, what it is): each a delta of a relayed kind aimed at the wrong block.
STRAYS = [
    pytest.param(STRAY_TOOL_INPUT, id="input-json-for-a-block-never-started"),
    pytest.param(delta(7, type="text_delta", text="lost?"), id="text-for-a-block-never-started"),
    pytest.param(
        delta(7, type="thinking_delta", thinking="hmm"), id="thinking-for-a-block-never-started"
    ),
]


def where(tool: bool) -> tuple[list[str], int]:
    """The fake's stream of 4 pieces and the position just after its first content piece."""
    s = sample("anthropic", tool, 4)
    return list(s.payloads), s.first_content + 1


@pytest.mark.parametrize("stray", STRAYS)
def test_a_stray_delta_after_the_first_token_is_skipped_and_counted(stray: str) -> None:
    payloads, after = where(False)
    provider = PROVIDERS["anthropic"]
    skipped = provider.skipped_chunks
    text, arguments, end = answer_of(
        run("anthropic", [*payloads[:after], stray, *payloads[after:]])
    )
    assert (text, arguments) == (sample("anthropic", False, 4).text, "")
    assert end.finish_reason == "stop"
    assert provider.skipped_chunks == skipped + 1


@pytest.mark.parametrize("stray", STRAYS)
def test_a_stray_delta_before_the_first_token_fails_the_stream(stray: str) -> None:
    payloads, after = where(False)
    with pytest.raises(MalformedResponse):
        run("anthropic", [*payloads[: after - 1], stray, *payloads[after - 1 :]])


def test_a_stray_tool_input_leaves_the_real_call_at_index_0_alone() -> None:
    payloads, after = where(True)
    events = run("anthropic", [*payloads[:after], STRAY_TOOL_INPUT, *payloads[after:]], True)
    calls = calls_of(events)
    assert list(calls) == [0]
    assert calls[0]["id"] == "toolu_fake000001"
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize(
    ("tool", "stray"),
    [
        # Text for the tool_use block, tool input for the text block, thinking for either.
        (True, "text_delta"),
        (False, "input_json_delta"),
        (False, "thinking_delta"),
    ],
)
def test_a_delta_for_a_block_of_another_type_is_skipped(tool: bool, stray: str) -> None:
    payloads, after = where(tool)
    s = sample("anthropic", tool, 4)
    block = json.loads(payloads[after - 1])["index"]
    key = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}
    mismatched = delta(block, type=stray, **{key[stray]: '"}'})
    events = run("anthropic", [*payloads[:after], mismatched, *payloads[after:]], tool)
    text, arguments, _ = answer_of(events)
    if tool:
        assert (text, json.loads(arguments)) == ("", {"city": "Paris"})
    else:
        assert (text, arguments) == (s.text, "")
    assert not any(e.reasoning_content for e in events[:-1])


def test_a_block_index_started_again_as_another_type_is_skipped() -> None:
    payloads, after = where(True)
    block = json.loads(payloads[after - 1])["index"]
    restart = json.dumps(
        {"type": "content_block_start", "index": block, "content_block": {"type": "text"}}
    )
    events = run("anthropic", [*payloads[:after], restart, *payloads[after:]], True)
    assert json.loads(answer_of(events)[1]) == {"city": "Paris"}


def test_the_trial_stream_keeps_its_text_and_makes_no_call() -> None:
    # The reported stream: "ok " in block 0, an input_json_delta for block 7 (no tools were
    # offered), "fine" in block 0.
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 500, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok "}},
        json.loads(STRAY_TOOL_INPUT),
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "fine"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]
    decoded = run("anthropic", [json.dumps(e) for e in events])
    text, arguments, end = answer_of(decoded)
    assert (text, arguments, end.finish_reason) == ("ok fine", "", "stop")
    assert calls_of(decoded) == {}


def test_tool_input_that_is_not_json_text_is_skipped() -> None:
    # "Input JSON delta": partial_json is a string of JSON; an object there is read as nothing
    # rather than as its Python form.
    payloads, after = where(True)
    block = json.loads(payloads[after - 1])["index"]
    bad = delta(block, type="input_json_delta", partial_json={"city": "Rome"})
    events = run("anthropic", [*payloads[:after], bad, *payloads[after:]], True)
    assert json.loads(answer_of(events)[1]) == {"city": "Paris"}
