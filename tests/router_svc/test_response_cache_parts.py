"""The response cache's parts without processes: what goes into a key, what is stored, the
in-process store's bounds (tests/integration/test_response_cache.py runs the whole thing)."""

from __future__ import annotations

from dataclasses import replace

from router_svc.cache.entry import CachedAnswer, StreamRecorder
from router_svc.cache.key import cache_key
from router_svc.cache.store import LruAnswers
from router_svc.chat import ChatRequest, Message, StreamDelta, TokenUsage, ToolCall, ToolCallDelta

BASE = ChatRequest(model="gpt", messages=(Message("user", "hi"),), temperature=0.2)


def test_labels_do_not_change_the_key_and_the_question_does() -> None:
    key = cache_key(BASE, "conversation")
    labelled = replace(
        BASE, user="u", source="ide", metadata={"a": "b"}, client_request_id="x", cache=True
    )
    assert cache_key(labelled, "conversation") == key
    for changed in (
        replace(BASE, temperature=0.3),
        replace(BASE, seed=1),
        replace(BASE, messages=(Message("user", "hi!"),)),
        replace(BASE, stop=("\\n",)),
        replace(BASE, model="auto"),
    ):
        assert cache_key(changed, "conversation") != key
    assert cache_key(BASE, "code") != key
    # Partitioned by the caller's key id.
    assert cache_key(replace(BASE, api_key_id="team-b"), "conversation") != key


def test_only_answers_that_finished_are_cacheable() -> None:
    usage = TokenUsage(3, 4)
    ok = CachedAnswer("gpt", "oai", "Paris", (), "stop", usage, 0.01)
    assert ok.cacheable
    assert CachedAnswer.decode(ok.encode()) == ok
    assert not replace(ok, finish_reason="length").cacheable
    assert not replace(ok, finish_reason="content_filter").cacheable
    assert not replace(ok, content="").cacheable
    assert not replace(ok, finish_reason="tool_calls").cacheable  # no calls
    assert replace(
        ok, finish_reason="tool_calls", tool_calls=(ToolCall("c1", "f", "{}"),)
    ).cacheable


def test_a_recorded_stream_is_the_whole_answer_and_replays_as_deltas() -> None:
    recorder = StreamRecorder()
    recorder.add(StreamDelta(content="Par"))
    recorder.add(StreamDelta(tool_calls=(ToolCallDelta(0, "c1", "f", '{"a"'),)))
    recorder.add(StreamDelta(content="is", tool_calls=(ToolCallDelta(0, arguments=": 1}"),)))
    answer = recorder.answer("gpt", "oai", "tool_calls", TokenUsage(1, 2), 0.5)
    assert (answer.content, answer.tool_calls) == ("Paris", (ToolCall("c1", "f", '{"a": 1}'),))
    replayed = StreamRecorder()
    for delta in answer.deltas():
        replayed.add(delta)
    assert replayed.answer("gpt", "oai", "tool_calls", TokenUsage(1, 2), 0.5) == answer


async def test_the_in_process_store_is_bounded_by_entries_bytes_and_time() -> None:
    now = [0.0]
    store = LruAnswers(max_entries=2, max_bytes=10, clock=lambda: now[0])
    await store.put("a", b"1234", 60)
    await store.put("b", b"1234", 60)
    assert await store.get("a") == b"1234"  # a is now the most recently used
    await store.put("c", b"1234", 60)
    assert (await store.get("b"), len(store)) == (None, 2)
    await store.put("d", b"123456", 60)  # 4 + 6 bytes fit; a third would not
    assert await store.get("a") is None
    assert store.bytes == 10
    await store.put("huge", b"x" * 11, 60)
    assert await store.get("huge") is None
    now[0] = 61
    assert await store.get("d") is None
