"""Property: whatever the router streams (reasoning, text, refusal and tool-call deltas in any
order, batched or not, ending in any finish reason, or broken by a failure), the ``/v1/responses``
events it becomes are taken by the official ``openai`` package's own stream state machine
(``ResponseStreamState``, which checks item identities and order) and assemble into the answer
the router sent: its text, its calls, its status."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai import omit
from openai._models import construct_type_unchecked
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from gateway.errors import GatewayError
from gateway.translate.responses_response import ResponseEvents
from llmrouter.v1 import chat_pb2, router_service_pb2

from .support import start_message, usage

EXAMPLES = 1000 if os.environ.get("LLMROUTER_SOAK") else 150

_TEXT = st.text(min_size=1, max_size=5)
# (kind, text) pieces of the answer before its calls; then each call's argument fragments.
_PIECES = st.lists(st.tuples(st.sampled_from(("reasoning_content", "content", "refusal")), _TEXT))
_CALLS = st.lists(st.lists(_TEXT, max_size=3), max_size=3)
_REASONS = st.sampled_from(
    (
        chat_pb2.FINISH_REASON_STOP,
        chat_pb2.FINISH_REASON_LENGTH,
        chat_pb2.FINISH_REASON_TOOL_CALLS,
        chat_pb2.FINISH_REASON_CONTENT_FILTER,
        chat_pb2.FINISH_REASON_UNSPECIFIED,
    )
)


def _deltas(
    pieces: list[tuple[str, str]], calls: list[list[str]]
) -> list[router_service_pb2.StreamDelta]:
    deltas = [router_service_pb2.StreamDelta(**{kind: text}) for kind, text in pieces]
    for index, fragments in enumerate(calls):
        first = router_service_pb2.ToolCallDelta(index=index, id=f"call_{index}", name="tool")
        deltas.append(router_service_pb2.StreamDelta(tool_calls=[first]))
        deltas.extend(
            router_service_pb2.StreamDelta(
                tool_calls=[router_service_pb2.ToolCallDelta(index=index, arguments=fragment)]
            )
            for fragment in fragments
        )
    return deltas


def _frames(data: bytes) -> list[dict[str, Any]]:
    out = []
    for frame in data.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        event = json.loads(lines["data"])
        assert lines["event"] == event["type"]
        out.append(event)
    return out


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PIECES, _CALLS, _REASONS, st.booleans(), st.none() | st.integers(0, 20))
def test_the_sdk_assembles_what_the_router_sent(
    pieces: list[tuple[str, str]],
    calls: list[list[str]],
    reason: chat_pb2.FinishReason,
    batched: bool,
    fail_after: int | None,
) -> None:
    events = ResponseEvents(request_id="gw-1", model="auto", echo={})
    deltas = _deltas(pieces, calls)
    out = events.sse(start_message())
    if batched:
        batch = router_service_pb2.StreamDeltaBatch(deltas=deltas)
        out += events.sse(router_service_pb2.StreamCompleteResponse(delta_batch=batch))
    else:
        for number, delta in enumerate(deltas):
            if fail_after is not None and number == fail_after:
                break
            out += events.sse(router_service_pb2.StreamCompleteResponse(delta=delta))
    failed = fail_after is not None and not batched and fail_after < len(deltas)
    if failed:
        out += events.failed(GatewayError("upstream broke", http_status=503))
    else:
        end = router_service_pb2.StreamSummary(finish_reason=reason, usage=usage())
        out += events.sse(router_service_pb2.StreamCompleteResponse(summary=end))

    frames = _frames(out)
    assert [frame["sequence_number"] for frame in frames] == list(range(len(frames)))
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for frame in frames:
        state.handle_event(construct_type_unchecked(type_=ResponseStreamEvent, value=frame))  # type: ignore[arg-type]
    last = frames[-1]
    if failed:
        assert last["type"] == "response.failed"
        assert last["response"]["error"]["code"] == "server_error"
        return
    incomplete = reason in (chat_pb2.FINISH_REASON_LENGTH, chat_pb2.FINISH_REASON_CONTENT_FILTER)
    assert last["type"] == ("response.incomplete" if incomplete else "response.completed")
    final = last["response"]
    text = "".join(t for kind, t in pieces if kind == "content")
    got_text = "".join(
        part["text"]
        for item in final["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )
    assert got_text == text
    got_calls = [
        (item["call_id"], item["arguments"])
        for item in final["output"]
        if item["type"] == "function_call"
    ]
    assert got_calls == [(f"call_{i}", "".join(f)) for i, f in enumerate(calls)]
    ids = [item["id"] for item in final["output"]]
    assert len(ids) == len(set(ids))
    if not incomplete:
        response = state._completed_response
        assert response is not None
        assert response.output_text == text
