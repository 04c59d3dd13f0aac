"""What quality-bounded routing knows of a model without looking at the prompt: its estimate
in the request's category, and the seam through which that estimate is obtained.

:class:`CategoryEstimates` is the one seam: anything with a ``category_estimate(model,
category)`` method. The router starts with :class:`ConfiguredQuality` (each model's configured
``quality``, source "prior"); the per model x category Bayesian estimates from feedback and
evaluation scores plug in through the same method (``router_svc.server.category_estimates``).
"""

from __future__ import annotations

from typing import Protocol

from llmrouter.values import frozen

from ..registry import Registry

__all__ = [
    "SOURCE_CATEGORY",
    "SOURCE_KNN",
    "SOURCE_PRIOR",
    "CategoryEstimates",
    "ConfiguredQuality",
    "QualityEstimate",
]

# QualityPrediction.source: labelled neighbours of the prompt, the model x category estimate
# from scores, or the configured quality (no or too few scores).
SOURCE_KNN = "knn"
SOURCE_CATEGORY = "category"
SOURCE_PRIOR = "prior"


@frozen
class QualityEstimate:
    """A model's estimated quality for one request, in [0, 1], and where it comes from.

    ``samples``: labelled neighbours used (knn) or scores behind the estimate (category).
    ``mean_similarity``: the neighbours' mean cosine similarity (knn; else 0). ``lower`` and
    ``upper``: the 90 % credible interval where known (None otherwise).
    """

    quality: float
    source: str
    samples: int = 0
    mean_similarity: float = 0.0
    lower: float | None = None
    upper: float | None = None


class CategoryEstimates(Protocol):
    """The seam: a model's quality estimate in a category (source "category" once enough
    scores exist, else "prior"). Called on the request path: must not block or do I/O."""

    def category_estimate(self, model: str, category: str) -> QualityEstimate:
        """``model``'s estimate in ``category`` (a registry name; unknown: 0.5, "prior")."""
        ...


class ConfiguredQuality:
    """Each model's configured ``quality`` (``[[router.models]] quality``) in every category,
    source "prior": what the router knows before any score arrives."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def category_estimate(self, model: str, category: str) -> QualityEstimate:
        """The configured quality of ``model`` (0.5 for a model not in the registry)."""
        entry = self._registry.get(model)
        return QualityEstimate(entry.config.quality if entry is not None else 0.5, SOURCE_PRIOR)
