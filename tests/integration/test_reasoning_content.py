"""A model's reasoning text reaches the client (issue 16, "nothing a provider returns is
silently lost"): as ``choices[0].message.reasoning_content`` and, streamed, as
``choices[0].delta.reasoning_content``, the OpenAI-compatible shape DeepSeek's API and vLLM
use, from every provider kind and dialect, apart from the answer's content. Real gateway,
router and metrics processes, read with the official ``openai`` package (which keeps fields
OpenAI's schema lacks in ``model_extra``); the fake upstream answers in each provider's
published shape (see ``Behavior.reasoning``)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes import Behavior, FakeUpstream

from .conftest import Stack
from .test_request_fields_parts import KEY, fake, stack

__all__ = ["fake", "stack"]  # the fixtures: three models, one per provider kind

HI: Any = [{"role": "user", "content": "Hi"}]
THOUGHT = "The user greets me. A short greeting back will do; nothing else is asked."

# (model, how its upstream gives the reasoning): one row per kind and dialect.
ROWS = [
    # DeepSeek's API and vLLM before 0.11: reasoning_content.
    ("o-mini", Behavior(reasoning=THOUGHT)),
    # OpenRouter and vLLM since 0.11: reasoning.
    ("o-mini", Behavior(reasoning=THOUGHT, reasoning_keys=("reasoning",))),
    # vLLM while renaming the field: both names, the same text (relayed once).
    ("o-mini", Behavior(reasoning=THOUGHT, reasoning_keys=("reasoning_content", "reasoning"))),
    # Anthropic: a thinking block (signature_delta when streamed), then the text.
    ("claude", Behavior(reasoning=THOUGHT)),
    # A redacted_thinking block (no text) besides: nothing more to relay, nothing fails.
    ("claude", Behavior(reasoning=THOUGHT, redacted_thinking=True)),
    # Ollama's /api/chat: message.thinking.
    ("llama", Behavior(reasoning=THOUGHT)),
]


def extra(model: Any) -> dict[str, Any]:
    """The fields of an SDK object that OpenAI's schema does not define."""
    return dict(model.model_extra or {})


@pytest.mark.parametrize("streamed", [False, True], ids=["unary", "stream"])
async def test_reasoning_reaches_the_openai_sdk_from_every_kind(
    stack: Stack, fake: FakeUpstream, streamed: bool
) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    for model, behavior in ROWS:
        row = (model, behavior.reasoning_keys, behavior.redacted_thinking)
        fake.set(model, behavior)
        if not streamed:
            reply = await sdk.chat.completions.create(model=model, messages=HI)
            message = reply.choices[0].message
            assert extra(message).get("reasoning_content") == THOUGHT, row
            # The answer is the answer alone.
            assert message.content == f"Hello from {model}.", row
            assert reply.choices[0].finish_reason == "stop", row
            continue
        stream = await sdk.chat.completions.create(model=model, messages=HI, stream=True)
        thought: list[str] = []
        content: list[str] = []
        async for chunk in stream:
            for choice in chunk.choices:
                thought.append(extra(choice.delta).get("reasoning_content") or "")
                content.append(choice.delta.content or "")
        assert "".join(thought) == THOUGHT, row
        assert "".join(content) == f"Hello from {model}.", row
        # Streamed as it came: in pieces, each before the answer's first text.
        pieces = [i for i, piece in enumerate(thought) if piece]
        assert len(pieces) == 2, row
        assert not any(content[: pieces[-1] + 1]), row
    await sdk.close()


async def test_no_reasoning_no_field(stack: Stack, fake: FakeUpstream) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    for model in ("o-mini", "claude", "llama"):
        fake.set(model, Behavior())
        reply = await sdk.chat.completions.create(model=model, messages=HI)
        assert "reasoning_content" not in extra(reply.choices[0].message), model
        stream = await sdk.chat.completions.create(model=model, messages=HI, stream=True)
        async for chunk in stream:
            for choice in chunk.choices:
                assert "reasoning_content" not in extra(choice.delta), model
    await sdk.close()
