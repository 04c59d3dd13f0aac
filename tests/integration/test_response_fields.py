"""Response fields from an OpenAI-compatible upstream reach the client in OpenAI's shape
(issue 16, "Response fields"): log probabilities and refusals, whole and streamed, through the
real gateway, router and metrics processes, read with the official ``openai`` package. The
fake upstream answers as OpenAI's API reference describes ("The chat completion object",
"The chat completion chunk object"). One stack; the scenarios run one after another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes import Behavior, FakeUpstream

from .conftest import Stack, started, write_config
from .test_anthropic_fidelity import KEY, fake

__all__ = ["fake"]  # the fixture, shared with the fidelity tests

HI: Any = [{"role": "user", "content": "Hi"}]
REFUSAL = "I'm sorry, I cannot help with that."


@pytest.fixture
async def stack(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    providers = f"""
default_chain = ["gpt-fake"]
[[router.providers]]
name = "fake"
kind = "openai"
base_url = "{fake.base_url}/v1"
[[router.models]]
name = "gpt-fake"
provider = "fake"
input_price_per_million = 1.0
output_price_per_million = 2.0
"""
    env = {"LLMROUTER_GATEWAY_API_KEYS": f"tests:{KEY}"}
    async with started(write_config(tmp_path, providers, "auth_enabled = true"), env) as running:
        yield running


async def test_logprobs_and_refusals_reach_the_client(stack: Stack, fake: FakeUpstream) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=KEY, max_retries=0)
    fake.set("gpt-fake", Behavior(chunks=3, text="one two three"))
    # Log probabilities asked for: each token with its two alternatives, whole and streamed.
    reply = await sdk.chat.completions.create(
        model="gpt-fake", messages=HI, logprobs=True, top_logprobs=2
    )
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    # The fake's tokens are its three pieces of the text.
    assert "".join(t.token for t in logprobs.content) == "one two three"
    assert [len(t.top_logprobs) for t in logprobs.content] == [2, 2, 2]
    assert logprobs.content[1].bytes == list(logprobs.content[1].token.encode())
    stream = await sdk.chat.completions.create(
        model="gpt-fake", messages=HI, logprobs=True, top_logprobs=2, stream=True
    )
    tokens = [
        t.token
        async for chunk in stream
        for choice in chunk.choices
        if choice.logprobs is not None and choice.logprobs.content
        for t in choice.logprobs.content
    ]
    assert len(tokens) == 3
    assert "".join(tokens) == "one two three"
    # Not asked for: none.
    plain = await sdk.chat.completions.create(model="gpt-fake", messages=HI)
    assert plain.choices[0].logprobs is None

    # A refusal: message.refusal, content null; streamed as delta.refusal.
    fake.set("gpt-fake", Behavior(chunks=3, text=REFUSAL, refusal=True))
    refused = await sdk.chat.completions.create(model="gpt-fake", messages=HI)
    assert refused.choices[0].message.refusal == REFUSAL
    assert refused.choices[0].message.content is None
    stream = await sdk.chat.completions.create(model="gpt-fake", messages=HI, stream=True)
    pieces: list[str] = []
    content: list[str] = []
    async for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.refusal or "")
            content.append(choice.delta.content or "")
    assert "".join(pieces) == REFUSAL
    assert "".join(content) == ""
    # With logprobs: the refusal's tokens are under logprobs.refusal.
    refused = await sdk.chat.completions.create(
        model="gpt-fake", messages=HI, logprobs=True, top_logprobs=1
    )
    logprobs = refused.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.refusal is not None
    assert "".join(t.token for t in logprobs.refusal) == REFUSAL
