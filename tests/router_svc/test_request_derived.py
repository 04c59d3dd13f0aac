"""What routing derives from a request's messages is worked out once per request, and a request
changed with ``dataclasses.replace`` derives it anew (never a stale answer for new messages)."""

from __future__ import annotations

from dataclasses import replace

from router_svc.chat import ChatRequest, ContentPart, Message
from router_svc.providers.unmapped import unmapped_field
from router_svc.tokens import estimate_prompt_tokens

TEXT = Message("user", "describe this")
IMAGE = Message("user", parts=(ContentPart(image_url="https://example.com/a.png", detail="high"),))


def test_a_changed_request_derives_anew() -> None:
    plain = ChatRequest(model="auto", messages=(TEXT,))
    assert not plain.needs_vision
    assert unmapped_field(plain, "ollama") == ""
    tokens = estimate_prompt_tokens(plain)
    with_image = replace(plain, messages=(TEXT, IMAGE))
    assert with_image.needs_vision
    assert unmapped_field(with_image, "ollama") == "messages[1].content[0].image_url.detail"
    assert estimate_prompt_tokens(with_image) > tokens
    # The first request's answers are its own still.
    assert not plain.needs_vision
    assert unmapped_field(plain, "ollama") == ""


def test_derived_facts_are_not_part_of_the_request() -> None:
    asked = ChatRequest(model="auto", messages=(TEXT,))
    assert asked.needs_vision is False
    assert asked == ChatRequest(model="auto", messages=(TEXT,))
    assert "derived" not in repr(asked)


def test_each_fact_is_computed_once() -> None:
    request = ChatRequest(model="auto", messages=(TEXT,) * 5000)
    calls = []

    def count(r: ChatRequest) -> int:
        calls.append(r)
        return len(r.messages)

    assert [request.derive("n", count) for _ in range(3)] == [5000] * 3
    assert len(calls) == 1
