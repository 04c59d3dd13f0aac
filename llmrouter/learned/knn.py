"""The kNN quality predictor and the quality-bounded cost order.

A labelled point is (prompt embedding, model, score in [0, 1]): one model's graded answer to one
prompt. To predict how well each candidate model will answer a new prompt, the predictor takes,
per model, the ``k`` labelled prompts most similar to it (cosine similarity of unit vectors) and
averages their scores weighted by similarity, shrunk toward a fallback estimate (the model's
quality in the request's category) by ``shrinkage`` pseudo-neighbours. The design is RouteLLM's
similarity-weighted router (Ong et al., "RouteLLM: Learning to Route LLMs with Preference Data",
2024, section 4.1) reduced to per-model scores instead of pairwise Elo; with too few similar
neighbours the fallback is used as it is.

One :class:`KnnPredictor` lives for the process; ``add`` and ``predict`` are synchronous and
CPU-only (a matrix-vector product per model: ~1 ms for 20 000 points of 256 dimensions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["KnnPredictor", "Prediction", "quality_bounded_order"]

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Prediction:
    """One model's predicted quality for one prompt.

    ``source`` is "knn" when at least ``min_neighbours`` similar labelled prompts of the model
    were found (``quality`` is then their similarity-weighted mean shrunk toward the fallback),
    else "fallback" (``quality`` is the fallback as given). ``samples`` counts the neighbours
    used; ``mean_similarity`` is their mean cosine similarity (0 when none).
    """

    quality: float
    source: str
    samples: int
    mean_similarity: float


@dataclass(slots=True)
class _Points:
    """One model's labelled points: a ring of at most ``capacity`` rows."""

    vectors: Vector
    scores: npt.NDArray[np.float32]
    keys: list[str] = field(default_factory=list)
    size: int = 0
    next_row: int = 0


class KnnPredictor:
    """Labelled prompt embeddings per model, and predictions from their nearest neighbours.

    ``dimensions``: length of every vector. ``k``: neighbours per model. ``min_neighbours``:
    fewest neighbours (with similarity >= ``min_similarity``) for a "knn" prediction.
    ``shrinkage``: pseudo-neighbours of weight 1 at the fallback value. ``max_points_per_model``:
    beyond it the oldest point of the model is replaced. Raises ValueError on a bad setting.
    """

    def __init__(
        self,
        dimensions: int,
        *,
        k: int = 16,
        min_neighbours: int = 3,
        min_similarity: float = 0.1,
        shrinkage: float = 2.0,
        max_points_per_model: int = 50_000,
    ) -> None:
        if dimensions < 1 or k < 1 or min_neighbours < 1 or max_points_per_model < 1:
            raise ValueError(
                "dimensions, k, min_neighbours and max_points_per_model must be at least 1"
            )
        if not -1.0 <= min_similarity <= 1.0:
            raise ValueError(f"min_similarity must be in [-1, 1], got {min_similarity}")
        if shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
        self.dimensions = dimensions
        self.k = k
        self.min_neighbours = min_neighbours
        self.min_similarity = min_similarity
        self.shrinkage = shrinkage
        self._capacity = max_points_per_model
        self._models: dict[str, _Points] = {}
        # key -> (model, row) of a keyed point, so a replaced score overwrites it.
        self._rows: dict[str, tuple[str, int]] = {}

    def __len__(self) -> int:
        return sum(points.size for points in self._models.values())

    def count(self, model: str) -> int:
        """Labelled points held for ``model``."""
        points = self._models.get(model)
        return points.size if points is not None else 0

    def add(
        self, model: str, vector: Sequence[float] | Vector, score: float, key: str = ""
    ) -> None:
        """Add one labelled point (``score`` in [0, 1]; ``vector`` of ``dimensions`` numbers,
        scaled to length 1 here). A non-empty ``key`` already added (e.g. request id and score
        source) replaces that point's vector and score instead. Raises ValueError for a vector
        of another length, a zero vector or a score outside [0, 1]."""
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {score}")
        unit = self._unit(vector)
        if key and key in self._rows:
            old_model, row = self._rows[key]
            if old_model == model:
                same = self._models[model]
                same.vectors[row] = unit
                same.scores[row] = score
                return
            self._forget(key)
        points = self._models.get(model)
        if points is None:
            size = min(self._capacity, 64)
            points = _Points(
                np.zeros((size, self.dimensions), np.float32), np.zeros(size, np.float32)
            )
            self._models[model] = points
        row = points.next_row
        if row == len(points.scores) and len(points.scores) < self._capacity:
            grown = min(self._capacity, 2 * len(points.scores))
            points.vectors = np.resize(points.vectors, (grown, self.dimensions))
            points.scores = np.resize(points.scores, grown)
        if row == self._capacity:
            row = 0
        if row < len(points.keys):
            old = points.keys[row]
            if old:
                self._rows.pop(old, None)
            points.keys[row] = key
        else:
            points.keys.append(key)
        points.vectors[row] = unit
        points.scores[row] = score
        points.size = min(points.size + 1, self._capacity)
        points.next_row = row + 1
        if key:
            self._rows[key] = (model, row)

    def _forget(self, key: str) -> None:
        """Drop the point of ``key`` by zeroing its weight: a zero vector is never similar."""
        model, row = self._rows.pop(key)
        points = self._models[model]
        points.vectors[row] = 0.0
        points.keys[row] = ""

    def _unit(self, vector: Sequence[float] | Vector) -> Vector:
        array = np.asarray(vector, dtype=np.float32)
        if array.shape != (self.dimensions,):
            raise ValueError(f"vector must have {self.dimensions} numbers, got shape {array.shape}")
        norm = float(np.linalg.norm(array))
        if not norm > 0 or not np.isfinite(norm):
            raise ValueError("vector must be finite and not all zeros")
        return array / norm

    def predict(
        self,
        vector: Sequence[float] | Vector,
        models: Iterable[str],
        fallback: Mapping[str, float],
    ) -> dict[str, Prediction]:
        """Predicted quality of each of ``models`` for the prompt embedded as ``vector``.

        ``fallback`` maps each model to the estimate used with too few neighbours and as the
        shrinkage target (a model missing from it falls back to 0.5). Raises ValueError as
        :meth:`add` does for ``vector``.
        """
        unit = self._unit(vector)
        out: dict[str, Prediction] = {}
        for model in models:
            prior = fallback.get(model, 0.5)
            points = self._models.get(model)
            if points is None or points.size == 0:
                out[model] = Prediction(prior, "fallback", 0, 0.0)
                continue
            sims = points.vectors[: points.size] @ unit
            k = min(self.k, points.size)
            top = np.argpartition(-sims, k - 1)[:k] if k < points.size else np.arange(k)
            chosen = top[sims[top] >= self.min_similarity]
            used = len(chosen)
            if used < self.min_neighbours:
                mean_sim = float(sims[chosen].mean()) if used else 0.0
                out[model] = Prediction(prior, "fallback", used, mean_sim)
                continue
            weights = np.maximum(sims[chosen], 1e-6)
            weighted = float(weights @ points.scores[chosen])
            total = float(weights.sum())
            quality = (weighted + self.shrinkage * prior) / (total + self.shrinkage)
            out[model] = Prediction(
                min(max(quality, 0.0), 1.0), "knn", used, float(sims[chosen].mean())
            )
        return out


def quality_bounded_order(
    models: Sequence[str],
    costs: Mapping[str, float],
    quality: Mapping[str, float],
    min_quality: float,
) -> list[str]:
    """``models`` in the order "cheapest whose quality is at least ``min_quality``".

    First the models whose ``quality`` reaches the bound, cheapest first (equal costs: higher
    quality first, then the given order); then the others, best quality first (equal quality:
    cheaper first), so a request no model is expected to serve well goes to the best bet.
    ``costs`` in any unit (e.g. USD per request); both mappings must hold every model.
    """
    position = {model: i for i, model in enumerate(models)}
    meeting = [m for m in models if quality[m] >= min_quality]
    rest = [m for m in models if quality[m] < min_quality]
    meeting.sort(key=lambda m: (costs[m], -quality[m], position[m]))
    rest.sort(key=lambda m: (-quality[m], costs[m], position[m]))
    return [*meeting, *rest]
