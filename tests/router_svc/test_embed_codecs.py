"""The embeddings codecs against whatever an upstream may answer: a correct answer is read, in
input order; anything else is a MalformedResponse (retryable), never another exception."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router_svc.embeddings import EmbedCall, EmbedRequest
from router_svc.errors import MalformedResponse
from router_svc.providers.embed_codecs import ollama_embeddings, openai_embeddings

INPUTS = ("one", "two", "three")
REQUEST = EmbedRequest(model="m", inputs=INPUTS)
CALL = EmbedCall("m", INPUTS, 1.0, 0, REQUEST, REQUEST.as_chat())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


def test_openai_items_are_put_in_order_by_their_index() -> None:
    data = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 2, "embedding": [3.0, 3.0]},
            {"object": "embedding", "index": 0, "embedding": [1, 1.5]},
            {"object": "embedding", "index": 1, "embedding": [2.0, 2.0]},
        ],
        "model": "m-2024",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }
    answer = openai_embeddings("p", CALL, data)
    assert answer.vectors == ((1.0, 1.5), (2.0, 2.0), (3.0, 3.0))
    assert (answer.usage.prompt_tokens, answer.usage.estimated) == (7, False)
    assert answer.upstream_model == "m-2024"


def test_a_missing_count_is_estimated_and_an_unreadable_one_is_malformed() -> None:
    data: dict[str, Any] = {"embeddings": [[0.1], [0.2], [0.3]]}
    answer = ollama_embeddings("p", CALL, data)
    assert answer.usage.estimated
    assert answer.usage.prompt_tokens == 1 + 1 + 2  # four characters a token, per input
    with pytest.raises(MalformedResponse):
        ollama_embeddings("p", CALL, {**data, "prompt_eval_count": "many"})


@pytest.mark.parametrize(
    "vectors",
    [
        [[0.1], [0.2]],  # one missing
        [[0.1], [0.2], [0.3, 0.4]],  # lengths differ
        [[0.1], [True], [0.3]],  # a boolean
        [[0.1], [], [0.3]],  # empty
        [[0.1], ["0.2"], [0.3]],  # a string
        [[0.1], [10**400], [0.3]],  # no float holds it
    ],
)
def test_wrong_vectors_are_malformed(vectors: list[Any]) -> None:
    with pytest.raises(MalformedResponse):
        ollama_embeddings("p", CALL, {"embeddings": vectors})


def test_vectors_of_another_length_than_asked_are_malformed() -> None:
    asked = EmbedRequest(model="m", inputs=INPUTS, dimensions=2)
    call = EmbedCall("m", INPUTS, 1.0, 0, asked, asked.as_chat())
    with pytest.raises(MalformedResponse, match="3-dimension vectors, 2 were asked"):
        ollama_embeddings("p", call, {"embeddings": [[0.0, 0.0, 1.0]] * 3})


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.sampled_from(["data", "usage", "model", "embeddings"]), json_values))
def test_any_answer_is_read_or_malformed(data: dict[str, Any]) -> None:
    for codec in (openai_embeddings, ollama_embeddings):
        try:
            answer = codec("p", CALL, data)
        except MalformedResponse:
            continue
        assert len(answer.vectors) == len(INPUTS)
        assert len({len(v) for v in answer.vectors}) == 1
