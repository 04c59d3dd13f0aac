"""Quality-bounded cost routing: the cheapest candidate whose estimated quality for this request
is at least ``min_quality`` (README, "Learned routing").

Each candidate's quality for the request is the learned predictor's (kNN over labelled
prompts, :mod:`router_svc.learned.predictor`) when it is configured and found enough similar
prompts of that model, else the model's estimate in the request's category (the
:class:`~router_svc.learned.estimates.CategoryEstimates` seam: configured quality until scores
arrive). The candidates are then ordered by :func:`llmrouter.learned.knn.quality_bounded_order`
on their estimated cost for the request. The order is computed once per request, in the
policy; Route, Complete and StreamComplete all follow it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from llmrouter.learned.knn import quality_bounded_order
from llmrouter.values import frozen

from ..chat import ChatRequest
from ..learned.estimates import SOURCE_CATEGORY, SOURCE_KNN, CategoryEstimates
from ..learned.predictor import LearnedPredictor
from ..learned.prompts import Vector
from ..quality.estimates import QualityPrediction
from ..registry import ModelEntry

__all__ = ["QualityOrder", "QualityRouting", "describe"]


@frozen
class QualityOrder:
    """Candidates in quality-bounded order, each with its estimate and the reason for its
    place; the embedding model when the predictor ran ("" otherwise) and the prompt vector it
    embedded (None when it did not run), kept for feedback on the answer."""

    ranked: tuple[tuple[ModelEntry, QualityPrediction, str], ...]
    embedding_model: str = ""
    vector: Vector | None = None


class QualityRouting:
    """Orders a category chain by "cheapest meeting the bound".

    ``estimates``: the seam for each model's category estimate (settable: the router points it
    at the estimates from scores). ``predictor``: the learned predictor (None: category
    estimates alone, and nothing is embedded).
    """

    def __init__(
        self, estimates: CategoryEstimates, predictor: LearnedPredictor | None = None
    ) -> None:
        self.estimates = estimates
        self.predictor = predictor

    async def order(
        self,
        request: ChatRequest,
        category: str,
        entries: Sequence[ModelEntry],
        costs: Mapping[str, float],
        bound: float,
    ) -> QualityOrder:
        """``entries`` (the chain's candidates, in chain order) in quality-bounded order for
        ``request`` in ``category``; ``costs``: each one's estimated cost of the request."""
        names = [e.name for e in entries]
        estimates = {n: self.estimates.category_estimate(n, category) for n in names}
        note, embedding_model, vector = "", "", None
        if self.predictor is not None:
            embedded = await self.predictor.embed_prompt(request)
            if isinstance(embedded, str):
                note = f"predictor not used: {embedded}"
            else:
                vector, embedding_model = embedded, self.predictor.embedding_model
                fallback = {n: e.quality for n, e in estimates.items()}
                for name, found in self.predictor.predict(vector, names, fallback).items():
                    if found.source == SOURCE_KNN:
                        # No interval: the kNN mean has none (0 for both, "unknown").
                        estimates[name] = QualityPrediction(
                            found.quality,
                            SOURCE_KNN,
                            found.samples,
                            0.0,
                            0.0,
                            mean_similarity=found.mean_similarity,
                        )
        quality = {n: e.quality for n, e in estimates.items()}
        order = quality_bounded_order(names, costs, quality, bound)
        by_name = {e.name: e for e in entries}
        needed = 0
        if vector is not None and self.predictor is not None:
            needed = self.predictor.config.min_neighbours
        ranked = []
        for i, name in enumerate(order):
            estimate = estimates[name]
            if estimate.quality >= bound:
                place = "cheapest meeting" if i == 0 else "meets"
                place = f"{place} quality >= {bound:.2f}"
            elif i == 0:
                place = f"none meets quality >= {bound:.2f}, best estimate"
            else:
                place = f"below quality {bound:.2f}"
            why = describe(estimate)
            if note:
                why = f"{why}; {note}"
            elif needed and estimate.source != SOURCE_KNN:
                why = f"{why}; fewer than {needed} similar labelled prompts"
            reason = f"{place} (est. ${costs[name]:.6f}): {why}"
            ranked.append((by_name[name], estimate, reason))
        return QualityOrder(tuple(ranked), embedding_model, vector)


def describe(estimate: QualityPrediction) -> str:
    """An estimate for a reason text: "predicted 0.78 from 12 neighbours (knn)", "estimated
    0.64 from 40 scores (category)", "configured 0.50 (prior)", "configured 0.50 (prior; 5
    of 20 scores)"."""
    quality, count = f"{estimate.quality:.2f}", estimate.samples
    plural = "s" if count != 1 else ""
    if estimate.source == SOURCE_KNN:
        return f"predicted {quality} from {count} neighbour{plural} (knn)"
    if estimate.source == SOURCE_CATEGORY:
        return f"estimated {quality} from {count} score{plural} (category)"
    if count and estimate.needed:
        return f"configured {quality} ({estimate.source}; {count} of {estimate.needed} scores)"
    return f"configured {quality} ({estimate.source})"
