"""The fake upstream's embeddings endpoints read by the official ``openai`` SDK (OpenAI's
shape, base64 included) and by raw HTTP (Ollama's shape, errors), so the fake is checked
against a client the router's authors did not write."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes import Behavior, running_upstream
from tests.fakes._embeddings import fake_vector


async def test_the_openai_sdk_reads_the_fake_as_it_reads_openai() -> None:
    async with running_upstream() as fake:
        sdk = openai.AsyncOpenAI(base_url=f"{fake.base_url}/v1", api_key="x", max_retries=0)
        default = await sdk.embeddings.create(model="m", input=["a b", "c"])  # base64
        assert [d.embedding for d in default.data] == [
            fake_vector("m", "a b"),
            fake_vector("m", "c"),
        ]
        assert default.usage.prompt_tokens == 3
        short = await sdk.embeddings.create(
            model="m", input="a", dimensions=3, encoding_format="float"
        )
        assert short.data[0].embedding == fake_vector("m", "a", 3)
        fake.set("m", Behavior(status=429, retry_after="1"))
        with pytest.raises(openai.RateLimitError) as limited:
            await sdk.embeddings.create(model="m", input="a")
        assert limited.value.response.headers["retry-after"] == "1"


async def test_ollama_embed_shape_and_errors() -> None:
    async with running_upstream() as fake, httpx.AsyncClient(base_url=fake.base_url) as http:
        answer = (await http.post("/api/embed", json={"model": "e", "input": "x y z"})).json()
        assert answer["embeddings"] == [fake_vector("e", "x y z")]
        assert answer["prompt_eval_count"] == 3
        refused = await http.post("/api/embed", json={"model": "e", "input": []})
        assert refused.status_code == 400
        assert isinstance(refused.json()["error"], str)
