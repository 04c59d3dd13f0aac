"""Category detection: tools, keywords, short chats, classifier and hybrid modes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from router_svc.chat import ChatRequest, Message, Tool
from router_svc.config import CategoryConfig
from router_svc.routing.classify import Classifier

CATS = [CategoryConfig(n, ("m",)) for n in ("tools", "code", "reasoning", "conversation")]


def req(text: str, **kwargs: object) -> ChatRequest:
    return ChatRequest(model="auto", messages=(Message("user", text),), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "category", "source"),
    [
        ("Fix this python function, it raises an exception", "code", "keywords"),
        ("```\nprint(1)\n```", "code", "keywords"),
        ("Explain step by step why the sky is blue and prove it", "reasoning", "keywords"),
        ("hi there!", "conversation", "short_chat"),
        ("tell me a story " * 50, "default", "default"),
    ],
)
async def test_keywords(text: str, category: str, source: str) -> None:
    found = await Classifier(CATS).classify(req(text))
    assert (found.category, found.source) == (category, source)


async def test_tools_win() -> None:
    found = await Classifier(CATS).classify(req("python bug", tools=(Tool("f"),)))
    assert (found.category, found.source) == ("tools", "tools")


async def test_custom_keywords_and_whole_words_only() -> None:
    classifier = Classifier([*CATS, CategoryConfig("legal", ("m",), ("contract",))])
    assert (await classifier.classify(req("draft a contract " * 40))).category == "legal"
    assert (await classifier.classify(req("contractor schedule " * 40))).category == "default"


async def test_classifier_mode_asks_the_model_and_falls_back() -> None:
    asked: list[tuple[str, Sequence[str]]] = []

    async def ask(text: str, choices: Sequence[str]) -> str:
        asked.append((text, choices))
        return "Reasoning."

    classifier = Classifier(CATS, mode="classifier", ask_model=ask)
    found = await classifier.classify(req("python bug"))
    assert (found.category, found.source) == ("reasoning", "classifier")
    assert "tools" not in asked[0][1]

    async def slow(text: str, choices: Sequence[str]) -> str:
        await asyncio.sleep(5)
        return "code"

    classifier = Classifier(CATS, mode="classifier", ask_model=slow, timeout_s=0.05)
    found = await classifier.classify(req("python bug"))
    assert (found.category, found.source) == ("code", "keywords")


async def test_hybrid_uses_keywords_first() -> None:
    calls = 0

    async def ask(text: str, choices: Sequence[str]) -> str:
        nonlocal calls
        calls += 1
        return "conversation"

    classifier = Classifier(CATS, mode="hybrid", ask_model=ask)
    assert (await classifier.classify(req("python bug"))).source == "keywords"
    assert calls == 0
    assert (await classifier.classify(req("hello " * 100))).source == "classifier"
    assert calls == 1


async def test_classifier_model_is_asked_over_http(make_router, upstream) -> None:  # type: ignore[no-untyped-def]
    from llmrouter.v1 import chat_pb2, router_service_pb2

    from .conftest import model

    models = (model("a"), model("small", "olla"))
    _, stub = await make_router(
        models, ("a",), classification_mode="classifier", classifier_model="small"
    )
    request = chat_pb2.ChatRequest(
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="fix my python bug")]
    )
    decision = await stub.Route(router_service_pb2.RouteRequest(chat=request))
    asked = [r for r in upstream.requests if r.model == "small"]
    assert len(asked) == 1
    assert "code, reasoning, conversation" in asked[0].json["messages"][0]["content"]
    # The fake answers "Hello from small." (no category): keywords decide instead.
    assert (decision.category, decision.category_source) == ("code", "keywords")
