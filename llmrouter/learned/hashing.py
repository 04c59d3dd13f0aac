"""A deterministic bag-of-words text embedder (feature hashing), with no model and no network.

Words (lower-cased runs of letters and digits) and adjacent word pairs are hashed into
``dimensions`` buckets with a hash-derived sign (Weinberger et al., "Feature Hashing for Large
Scale Multitask Learning", ICML 2009), then the vector is scaled to length 1. Texts sharing
words point in similar directions, so the cosine similarity of two vectors tracks their word
overlap: enough for the kNN predictor's tests, the synthetic labelled set and ``make run``'s
simulated embedding model, never a substitute for a real embedding model.
"""

from __future__ import annotations

import hashlib
import itertools
import re

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_DIMENSIONS", "hashed_embedding"]

DEFAULT_DIMENSIONS = 256
_WORD = re.compile(r"[^\W_]+")


def _bucket(feature: str, seed: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(f"{seed}\x00{feature}".encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimensions, (1.0 if (value >> 63) & 1 else -1.0)


def hashed_embedding(
    text: str, dimensions: int = DEFAULT_DIMENSIONS, *, seed: str = ""
) -> npt.NDArray[np.float32]:
    """``text`` as a unit vector of ``dimensions`` float32 (all zeros for a text without a
    word). The same text, length and ``seed`` give the same vector in every process; another
    seed (e.g. a model name) gives an unrelated one.

    Raises ValueError when ``dimensions`` < 1.
    """
    if dimensions < 1:
        raise ValueError(f"dimensions must be at least 1, got {dimensions}")
    vector = np.zeros(dimensions, dtype=np.float32)
    words = _WORD.findall(text.lower())
    features = [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]
    for feature in features:
        index, sign = _bucket(feature, seed, dimensions)
        vector[index] += sign
    norm = float(np.linalg.norm(vector))
    if norm > 0:
        vector /= norm
    return vector
