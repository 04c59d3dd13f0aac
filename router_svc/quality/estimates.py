"""Quality estimates per model x category: a Beta-Bernoulli posterior over fractional scores.

For one model in one category, with configured quality ``q`` (the prior's mean), prior weight
``w`` (pseudo-scores), user scores ``s_i`` and judge grades ``g_j`` (each in [0, 1]) and judge
weight ``k``::

    alpha = q * w + sum(s_i) + k * sum(g_j)
    beta  = (1 - q) * w + sum(1 - s_i) + k * sum(1 - g_j)
    estimate = alpha / (alpha + beta), 90 % credible interval from Beta(alpha, beta)

While the prior is in use (too few scores), what scoring is given is ``q`` with the prior's own
interval, Beta(q * w, (1 - q) * w); the estimate and its posterior interval are still listed.

A score of 1 (thumbs up, five stars) is a success, 0 a failure, 0.75 three quarters of one:
the Beta posterior of a Bernoulli rate with fractional observations. Weighted scoring
(:mod:`router_svc.routing.policy`) uses the estimate instead of ``q`` once the scores weigh
``min_samples`` (users' plus ``k`` times judges'), before that the configured quality.

Everything is computed when new sums arrive (:class:`QualityEstimates.update`, in a worker
thread), so a routing decision only looks a prediction up in a dict: ~0.3 us.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping

from llmrouter.values import frozen

from .beta import beta_interval
from .config import QualityConfig

__all__ = [
    "CREDIBLE_MASS",
    "Priors",
    "QualityEstimate",
    "QualityEstimates",
    "QualityPrediction",
    "ScoreSums",
    "estimate_of",
]

#: Probability mass of the credible interval.
CREDIBLE_MASS = 0.9
# Shape parameters below this are raised to it: a configured quality of exactly 0 or 1 with no
# scores would make a degenerate Beta.
_MIN_SHAPE = 1e-3


@frozen
class QualityPrediction:
    """A model's estimated quality for one request, and where it comes from."""

    #: In [0, 1].
    quality: float
    #: "category" (the model x category estimate, enough scores), "prior" (the configured
    #: quality), or "knn" (the learned predictor's labelled neighbours).
    source: str
    #: Scores behind it (category, prior), or neighbours used (knn).
    samples: int
    #: 90 % credible interval of ``quality``: the posterior's (category), the prior's own
    #: Beta(q * w, (1 - q) * w) (prior), the neighbours' (knn).
    lower: float
    upper: float
    #: Mean cosine similarity of the neighbours (knn; 0 otherwise).
    mean_similarity: float = 0.0
    #: Scores needed before the category estimate is used (prior only; 0 otherwise).
    needed: int = 0
    #: :meth:`describe`'s text, when made ahead (the estimates make it once per update, not
    #: once per request).
    text: str = ""

    def describe(self) -> str:
        """For a candidate's reason: ``0.72 (feedback, n=40)``, ``0.80 (prior)`` or ``0.80
        (prior, n=5 < 20)``."""
        if self.text:
            return self.text
        if self.source == "category":
            return f"{self.quality:.2f} (feedback, n={self.samples})"
        if self.source == "prior" and self.samples:
            return f"{self.quality:.2f} (prior, n={self.samples} < {self.needed})"
        if self.source == "knn":
            return f"{self.quality:.2f} (knn, n={self.samples})"
        return f"{self.quality:.2f} (prior)"


@frozen
class ScoreSums:
    """The scores of one model in one category: counts and sums, by kind of source."""

    user_count: int = 0
    user_sum: float = 0.0
    judge_count: int = 0
    judge_sum: float = 0.0


@frozen
class QualityEstimate:
    """What the router believes about one model in one category."""

    model: str
    category: str
    #: The configured quality (the prior's mean) and the prior's weight in pseudo-scores.
    prior: float
    prior_weight: float
    user_samples: int
    judge_samples: int
    #: Mean of the scores (users' and judges', unweighted); 0 when none.
    observed_mean: float
    #: Posterior mean and its 90 % credible interval.
    estimate: float
    lower: float
    upper: float
    #: Scoring uses ``estimate`` (the scores weigh min_samples or more), else ``prior``.
    in_use: bool
    #: What scoring is given for this model in this category.
    prediction: QualityPrediction

    @property
    def samples(self) -> int:
        """Scores seen, users' and judges'."""
        return self.user_samples + self.judge_samples


def estimate_of(
    model: str, category: str, prior: float, sums: ScoreSums, config: QualityConfig
) -> QualityEstimate:
    """The posterior of ``model`` in ``category`` (module docstring)."""
    weight, judge = config.prior_weight, config.judge_weight
    alpha = prior * weight + sums.user_sum + judge * sums.judge_sum
    beta = (
        (1 - prior) * weight
        + (sums.user_count - sums.user_sum)
        + judge * (sums.judge_count - sums.judge_sum)
    )
    alpha, beta = max(alpha, _MIN_SHAPE), max(beta, _MIN_SHAPE)
    mean = alpha / (alpha + beta)
    lower, upper = beta_interval(alpha, beta, CREDIBLE_MASS)
    samples = sums.user_count + sums.judge_count
    weighed = sums.user_count + judge * sums.judge_count
    in_use = samples > 0 and weighed >= config.min_samples
    observed = (sums.user_sum + sums.judge_sum) / samples if samples else 0.0
    if in_use:
        prediction = QualityPrediction(mean, "category", samples, lower, upper)
    else:
        # The prior's own interval, Beta(q * w, (1 - q) * w): the posterior's would not hold
        # the value scoring is given.
        prior_lower, prior_upper = beta_interval(
            max(prior * weight, _MIN_SHAPE), max((1 - prior) * weight, _MIN_SHAPE), CREDIBLE_MASS
        )
        prediction = QualityPrediction(
            prior, "prior", samples, prior_lower, prior_upper, needed=config.min_samples
        )
    prediction = dataclasses.replace(prediction, text=prediction.describe())
    return QualityEstimate(
        model=model,
        category=category,
        prior=prior,
        prior_weight=weight,
        user_samples=sums.user_count,
        judge_samples=sums.judge_count,
        observed_mean=observed,
        estimate=mean,
        lower=lower,
        upper=upper,
        in_use=in_use,
        prediction=prediction,
    )


#: The configured quality of a model by name (None: not in the registry).
Priors = Callable[[str], float | None]


class QualityEstimates:
    """The current estimates, replaced whole when new sums arrive; looked up per request."""

    def __init__(self, config: QualityConfig, priors: Priors) -> None:
        self.config = config
        self._priors = priors
        self._sums: dict[tuple[str, str], ScoreSums] = {}
        self._estimates: dict[tuple[str, str], QualityEstimate] = {}
        # Prior-only predictions by (model, configured quality): one Beta interval each,
        # computed once.
        self._prior_only: dict[tuple[str, float], QualityPrediction] = {}

    def prediction(self, model: str, category: str, configured: float) -> QualityPrediction:
        """What scoring uses for ``model`` in ``category``: the estimate once it has enough
        scores, else ``configured`` (source "prior")."""
        found = self._estimates.get((model, category))
        if found is not None and found.prior == configured:
            return found.prediction
        cached = self._prior_only.get((model, configured))
        if cached is None:
            cached = estimate_of(model, category, configured, ScoreSums(), self.config).prediction
            self._prior_only[(model, configured)] = cached
        return cached

    def estimates(self) -> list[QualityEstimate]:
        """Every model x category with scores, by model then category."""
        return [self._estimates[key] for key in sorted(self._estimates)]

    async def update(self, sums: Mapping[tuple[str, str], ScoreSums]) -> int:
        """Take new sums (all of them: a pair absent is dropped); recompute the pairs whose
        sums or prior changed, in a worker thread. Returns how many were recomputed."""
        wanted = {key: (self._prior_of(key[0]), value) for key, value in sums.items()}
        kept = {
            key: self._estimates[key]
            for key, (prior, value) in wanted.items()
            if key in self._estimates
            and self._sums.get(key) == value
            and self._estimates[key].prior == prior
        }
        changed = [(key, prior, value) for key, (prior, value) in wanted.items() if key not in kept]
        if changed:
            computed = await asyncio.to_thread(self._compute, changed)
            kept.update(computed)
        self._estimates = kept
        self._sums = dict(sums)
        return len(changed)

    def prime(self, models: Iterable[tuple[str, float]]) -> None:
        """Compute the prior-only predictions of ``models`` ((name, configured quality)) now,
        so that no request pays for the first one."""
        for name, quality in models:
            self.prediction(name, "", quality)

    def _prior_of(self, model: str) -> float:
        prior = self._priors(model)
        # A model no longer configured keeps a neutral prior; it is listed, never scored.
        return 0.5 if prior is None else prior

    def _compute(
        self, changed: list[tuple[tuple[str, str], float, ScoreSums]]
    ) -> dict[tuple[str, str], QualityEstimate]:
        return {
            key: estimate_of(key[0], key[1], prior, value, self.config)
            for key, prior, value in changed
        }
