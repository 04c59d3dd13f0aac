"""Prompt embeddings for ``llmrouter eval-router`` from an OpenAI-compatible embeddings API
(OpenAI's API reference, "Embeddings": ``POST /v1/embeddings`` with ``model`` and ``input`` as a
list of strings; the answer's ``data`` holds one ``{"index", "embedding"}`` per input). Our
gateway serves it, as do OpenAI, vLLM and Ollama's ``/v1``; inputs go in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

__all__ = ["EmbeddingsError", "embeddings_endpoint", "remote_embeddings"]


class EmbeddingsError(Exception):
    """The embeddings endpoint could not be reached or gave an unusable answer."""


def embeddings_endpoint(url: str) -> str:
    """``url`` as the embeddings endpoint: a base URL (``http://host:8080/v1``) gains
    ``/embeddings``; a URL already ending in it is kept."""
    url = url.rstrip("/")
    return url if url.endswith("/embeddings") else f"{url}/embeddings"


def remote_embeddings(
    url: str,
    model: str,
    texts: Sequence[str],
    *,
    api_key: str = "",
    batch_size: int = 64,
    timeout_s: float = 30.0,
) -> npt.NDArray[np.float32]:
    """One float32 vector per text ((texts, dimensions)), from ``model`` at ``url`` in calls of
    at most ``batch_size`` inputs (``encoding_format`` float). Raises EmbeddingsError naming
    the endpoint and what went wrong (status and the API's error message, a connection error,
    or an answer of another shape)."""
    endpoint = embeddings_endpoint(url)
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    vectors: list[list[float]] = []
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            body = {"model": model, "input": batch, "encoding_format": "float"}
            try:
                response = client.post(endpoint, json=body)
            except httpx.HTTPError as exc:
                raise EmbeddingsError(f"cannot reach {endpoint}: {exc}") from None
            if response.status_code != 200:
                raise EmbeddingsError(
                    f"{endpoint} answered {response.status_code}: {_message(response)}"
                )
            vectors.extend(_vectors(response, len(batch), endpoint))
    sizes = {len(v) for v in vectors}
    if len(sizes) > 1:
        raise EmbeddingsError(f"{endpoint}: vectors of different lengths {sorted(sizes)}")
    return np.array(vectors, dtype=np.float32).reshape(len(texts), -1)


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return response.text[:200] or response.reason_phrase


def _vectors(response: httpx.Response, count: int, endpoint: str) -> list[list[float]]:
    """The answer's vectors in input order."""
    try:
        data: Any = response.json()["data"]
        by_index = {int(item["index"]): [float(x) for x in item["embedding"]] for item in data}
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbeddingsError(
            f"{endpoint}: not an embeddings answer (expected data[].index and "
            f"data[].embedding as floats): {exc}"
        ) from None
    if sorted(by_index) != list(range(count)):
        raise EmbeddingsError(f"{endpoint}: {len(by_index)} vectors for {count} inputs")
    return [by_index[i] for i in range(count)]
