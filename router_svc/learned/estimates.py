"""What quality-bounded routing knows of a model without looking at the prompt: its estimate
in the request's category, and the seam through which that estimate is obtained.

:class:`CategoryEstimates` is the one seam: anything with a ``category_estimate(model,
category)`` method returning a :class:`~router_svc.quality.estimates.QualityPrediction`. With
``[router.quality]`` on, :class:`FromEstimates` reads the per model x category Bayesian
estimates from feedback and evaluation scores (source "category" once enough scores exist,
else "prior"); without it, :class:`ConfiguredQuality` gives each model's configured
``quality`` (source "prior"). ``router_svc.server.category_estimates`` picks one.
"""

from __future__ import annotations

from typing import Protocol

from ..quality.estimates import QualityEstimates, QualityPrediction
from ..registry import Registry

__all__ = [
    "SOURCE_CATEGORY",
    "SOURCE_KNN",
    "SOURCE_PRIOR",
    "CategoryEstimates",
    "ConfiguredQuality",
    "FromEstimates",
]

# QualityPrediction.source: labelled neighbours of the prompt, the model x category estimate
# from scores, or the configured quality (no or too few scores).
SOURCE_KNN = "knn"
SOURCE_CATEGORY = "category"
SOURCE_PRIOR = "prior"
# A model the registry does not know (left since the decision's filter): a neutral guess.
_UNKNOWN_QUALITY = 0.5


class CategoryEstimates(Protocol):
    """The seam: a model's quality estimate in a category. Called on the request path: must
    not block or do I/O."""

    def category_estimate(self, model: str, category: str) -> QualityPrediction:
        """``model``'s estimate in ``category`` (a registry name)."""
        ...


class ConfiguredQuality:
    """Each model's configured ``quality`` (``[[router.models]] quality``) in every category,
    source "prior", no interval: what the router knows with no scores at all."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def category_estimate(self, model: str, category: str) -> QualityPrediction:
        """The configured quality of ``model`` (0.5 for a model not in the registry)."""
        entry = self._registry.get(model)
        quality = entry.config.quality if entry is not None else _UNKNOWN_QUALITY
        return QualityPrediction(quality, SOURCE_PRIOR, 0, 0.0, 0.0)


class FromEstimates:
    """The estimates from feedback and evaluation scores (``[router.quality]``): a model's
    posterior in the category once its scores weigh ``min_samples``, else its configured
    quality with the prior's interval (a dict lookup: they are computed off the request
    path)."""

    def __init__(self, estimates: QualityEstimates, registry: Registry) -> None:
        self._estimates = estimates
        self._registry = registry

    def category_estimate(self, model: str, category: str) -> QualityPrediction:
        """What weighted scoring would use for ``model`` in ``category``."""
        entry = self._registry.get(model)
        configured = entry.config.quality if entry is not None else _UNKNOWN_QUALITY
        return self._estimates.prediction(model, category, configured)
