"""The shared learned-routing core: hashing embedder, kNN predictor, quality-bounded order."""

from __future__ import annotations

import time

import numpy as np
import pytest

from llmrouter.learned.hashing import hashed_embedding
from llmrouter.learned.knn import KnnPredictor, Prediction, quality_bounded_order


def test_hashed_embedding_is_deterministic_unit_and_tracks_word_overlap() -> None:
    a = hashed_embedding("Prove that the square root of two is irrational")
    again = hashed_embedding("Prove that the square root of two is irrational")
    near = hashed_embedding("prove the square root of three is irrational")
    far = hashed_embedding("What is a good pasta recipe for dinner tonight?")
    assert a.dtype == np.float32
    assert a.shape == (256,)
    assert np.array_equal(a, again)
    assert float(np.linalg.norm(a)) == pytest.approx(1.0, abs=1e-6)
    assert float(a @ near) > 0.5 > float(a @ far)
    assert not hashed_embedding("...", 8).any()  # no word: the zero vector
    assert not np.array_equal(a, hashed_embedding(a.tobytes().hex(), seed="other"))
    with pytest.raises(ValueError, match="dimensions"):
        hashed_embedding("x", 0)


def test_prediction_is_the_similarity_weighted_mean_shrunk_toward_the_fallback() -> None:
    knn = KnnPredictor(2, k=2, min_neighbours=2, min_similarity=0.0, shrinkage=1.0)
    knn.add("m", [1.0, 0.0], 1.0)
    knn.add("m", [0.6, 0.8], 0.0)  # similarity 0.6 to the query below
    knn.add("m", [0.0, 1.0], 0.0)  # similarity 0: not among the k=2 nearest
    got = knn.predict([1.0, 0.0], ["m", "unknown"], {"m": 0.5})
    # (1.0 * 1 + 0.6 * 0 + 1.0 * 0.5) / (1.0 + 0.6 + 1.0)
    assert got["m"] == Prediction(pytest.approx(1.5 / 2.6), "knn", 2, pytest.approx(0.8))
    assert got["unknown"] == Prediction(0.5, "fallback", 0, 0.0)


def test_too_few_similar_neighbours_use_the_fallback_as_it_is() -> None:
    knn = KnnPredictor(2, k=5, min_neighbours=2, min_similarity=0.5)
    knn.add("m", [1.0, 0.0], 1.0)
    knn.add("m", [0.0, 1.0], 1.0)  # dissimilar to the query
    got = knn.predict([1.0, 0.0], ["m"], {"m": 0.2})["m"]
    assert (got.quality, got.source, got.samples) == (0.2, "fallback", 1)


def test_a_keyed_point_is_replaced_and_a_full_model_drops_its_oldest() -> None:
    knn = KnnPredictor(2, k=1, min_neighbours=1, shrinkage=0.0, max_points_per_model=2)
    knn.add("m", [1.0, 0.0], 0.0, key="r1:user")
    knn.add("m", [1.0, 0.0], 1.0, key="r1:user")  # the user changed their mind
    assert knn.count("m") == 1
    assert knn.predict([1.0, 0.0], ["m"], {})["m"].quality == pytest.approx(1.0)
    knn.add("other", [1.0, 0.0], 0.0, key="r1:user")  # the key moves to another model
    moved = knn.predict([1.0, 0.0], ["m", "other"], {})
    assert (moved["m"].source, moved["m"].samples) == ("fallback", 0)
    assert (moved["other"].quality, moved["other"].samples) == (0.0, 1)
    ring = KnnPredictor(2, k=3, min_neighbours=1, shrinkage=0.0, max_points_per_model=2)
    for score in (0.0, 1.0, 1.0):  # the 0.0 is the oldest, overwritten by the third
        ring.add("m", [1.0, 0.0], score)
    assert ring.count("m") == 2
    assert ring.predict([1.0, 0.0], ["m"], {})["m"].quality == pytest.approx(1.0)


def test_bad_points_are_refused_naming_what_is_wrong() -> None:
    knn = KnnPredictor(3)
    with pytest.raises(ValueError, match="3 numbers"):
        knn.add("m", [1.0, 0.0], 0.5)
    with pytest.raises(ValueError, match="all zeros"):
        knn.add("m", [0.0, 0.0, 0.0], 0.5)
    with pytest.raises(ValueError, match=r"score must be in \[0, 1\]"):
        knn.add("m", [1.0, 0.0, 0.0], 1.5)
    with pytest.raises(ValueError, match="min_similarity"):
        KnnPredictor(3, min_similarity=2.0)


def test_quality_bounded_order_picks_the_cheapest_model_meeting_the_bound() -> None:
    models = ["strong", "mid", "cheap"]
    costs = {"strong": 10.0, "mid": 2.0, "cheap": 0.1}
    quality = {"strong": 0.9, "mid": 0.75, "cheap": 0.4}
    assert quality_bounded_order(models, costs, quality, 0.7) == ["mid", "strong", "cheap"]
    assert quality_bounded_order(models, costs, quality, 0.3) == ["cheap", "mid", "strong"]
    # Nobody reaches it: the best bet first.
    assert quality_bounded_order(models, costs, quality, 0.95) == ["strong", "mid", "cheap"]


def test_prediction_over_20000_points_takes_milliseconds() -> None:
    rng = np.random.default_rng(7)
    knn = KnnPredictor(256)
    for i in range(20_000):
        knn.add("m", rng.standard_normal(256).astype(np.float32), float(i % 2))
    query = rng.standard_normal(256).astype(np.float32)
    start = time.perf_counter()
    for _ in range(20):
        knn.predict(query, ["m"], {})
    per_call = (time.perf_counter() - start) / 20
    assert per_call < 0.02, per_call  # ~1-3 ms here; the bound leaves room for a busy machine
