"""The offline evaluation of routing policies on a labelled set (``llmrouter eval-router``).

Every policy picks one model per prompt; its realised quality is that prompt's label for the
model, its cost that answer's cost. Policies:

- ``cheapest``: the model of the lowest mean cost, for every prompt;
- ``single:<model>``: one model for every prompt (the best single model has the highest average
  quality; equal quality: the cheaper);
- ``static:per-category``: per prompt category, the model of the highest mean score on the
  training folds (the best a static chain per category could pick from the data);
- ``static:config``: each category's configured chain's first model (``chain_first``);
- ``learned@Q``: the router's quality-bounded policy. Each model's quality for a prompt is
  predicted by :class:`~llmrouter.learned.knn.KnnPredictor` trained on the other folds (k-fold
  cross-validation), with the model's mean training score in the prompt's category (else
  overall) as the fallback; :func:`~llmrouter.learned.knn.quality_bounded_order` over the
  models' mean training costs then picks the cheapest model predicted to reach Q.

Numbers per policy (:class:`PolicyResult`): cost, average quality, the share of calls to the
strongest model (highest average quality) and the fraction of the quality gap between the
cheapest and the strongest model recovered, ``(Q - Q_cheapest) / (Q_strongest - Q_cheapest)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from .knn import KnnPredictor, quality_bounded_order
from .labelled import LabelledSet

__all__ = [
    "DEFAULT_THRESHOLDS",
    "EqualQuality",
    "PolicyResult",
    "Report",
    "evaluate",
    "fold_of",
]

# Quality bounds of the learned policy: 0.50, 0.55, ..., 0.95.
DEFAULT_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
# Qualities closer than this are equal (averages of scores in [0, 1]).
_EPS = 1e-9

Choices = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """What one policy did over the set's prompts.

    ``kind``: cheapest, single, static or learned. ``total_cost_usd`` / ``mean_cost_usd``: the
    chosen answers' cost, in all and per prompt. ``quality``: the chosen answers' mean score.
    ``strongest_share``: fraction of prompts sent to the strongest model. ``gap_recovered``:
    ``(quality - Q_cheapest) / (Q_strongest - Q_cheapest)``; with no gap (the cheapest model is
    as good as the strongest) 1 for a policy as good as the strongest, else 0.
    ``cost_vs_strongest``: ``total_cost_usd`` over the strongest model's. ``calls``: prompts per
    model. ``threshold``: Q of a learned policy. ``note``: e.g. "best single", the model of
    ``cheapest``.
    """

    name: str
    kind: str
    total_cost_usd: float
    mean_cost_usd: float
    quality: float
    strongest_share: float
    gap_recovered: float
    cost_vs_strongest: float
    calls: dict[str, int]
    threshold: float | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class EqualQuality:
    """The learned policy's cost at a baseline's quality.

    ``learned``: the cheapest ``learned@Q`` whose quality is at least the baseline's (None when
    no threshold reaches it), with its cost, quality and saving (``1 - cost / baseline cost``,
    in percent). ``interpolated_cost_usd``: the lowest cost at which a mix of two learned
    policies reaches the baseline's quality (sending each prompt to one of them at random, in
    the proportion that makes the mix's expected quality the baseline's: cost and quality are
    linear in it). None when no threshold reaches it.
    """

    baseline: str
    baseline_cost_usd: float
    baseline_quality: float
    learned: str | None
    learned_cost_usd: float | None
    learned_quality: float | None
    saving_pct: float | None
    interpolated_cost_usd: float | None
    interpolated_saving_pct: float | None


@dataclass(frozen=True, slots=True)
class Report:
    """The evaluation: the policies in report order and the equal-quality comparisons (against
    the best static chain, then the best single model). ``source``: the labelled set's name;
    ``embedder``: how the prompts were embedded."""

    source: str
    prompts: int
    dropped: int
    missing: dict[str, int]
    models: tuple[str, ...]
    cheapest: str
    strongest: str
    best_single: str
    best_static: str
    folds: int
    seed: int
    embedder: str
    policies: tuple[PolicyResult, ...]
    equal_quality: tuple[EqualQuality, ...]


def fold_of(prompts: int, folds: int, seed: int) -> npt.NDArray[np.intp]:
    """The fold (0..folds-1) of each prompt: a seeded shuffle dealt round-robin, so the folds
    differ in size by at most one and the same seed deals the same folds."""
    order = np.random.default_rng(seed).permutation(prompts)
    fold = np.empty(prompts, dtype=np.intp)
    fold[order] = np.arange(prompts) % folds
    return fold


def evaluate(
    data: LabelledSet,
    embeddings: npt.NDArray[np.float32],
    *,
    folds: int = 5,
    seed: int = 0,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    k: int = 16,
    chain_first: Callable[[str], str] | None = None,
    embedder: str = "",
    source: str = "",
) -> Report:
    """Evaluate every policy on ``data`` with the prompts' ``embeddings`` ((prompts,
    dimensions); a zero row makes that prompt's prediction the fallback).

    ``chain_first`` maps a category ("" for none) to the model its configured chain starts
    with (the ``static:config`` policy; None: not reported). Raises ValueError when there are
    fewer prompts than ``folds``, ``folds`` < 2, or ``chain_first`` names a model not in the
    set.
    """
    n, m = data.scores.shape
    if folds < 2:
        raise ValueError(f"--folds: at least 2, got {folds}")
    if n < folds:
        raise ValueError(f"--folds: {folds} folds need at least {folds} prompts, the set has {n}")
    models = data.models
    mean_cost = data.costs.mean(axis=0)
    mean_quality = data.scores.mean(axis=0)
    # Ties: the cheapest model is the better of equal cost, the strongest the cheaper of equal
    # quality (then the set's model order).
    cheapest = min(range(m), key=lambda j: (mean_cost[j], -mean_quality[j], j))
    strongest = min(range(m), key=lambda j: (-mean_quality[j], mean_cost[j], j))
    score = _Scorer(data, cheapest, strongest)
    fold = fold_of(n, folds, seed)

    results = [score("cheapest", "cheapest", np.full(n, cheapest), note=models[cheapest])]
    singles = [score(f"single:{name}", "single", np.full(n, j)) for j, name in enumerate(models)]
    results += [
        _with_note(r, "best single" if j == strongest else "") for j, r in enumerate(singles)
    ]
    statics = [score("static:per-category", "static", _per_category_best(data, fold, folds))]
    if chain_first is not None:
        index = {name: j for j, name in enumerate(models)}
        firsts = {c: chain_first(c) for c in set(data.categories)}
        for category, name in firsts.items():
            if name not in index:
                raise ValueError(f"the chain of category {category!r} starts with {name!r}")
        choices = np.array([index[firsts[c]] for c in data.categories], dtype=np.intp)
        statics.append(score("static:config", "static", choices))
    best_static = min(statics, key=lambda r: (-r.quality, r.total_cost_usd))
    results += [_with_note(r, "best static" if r is best_static else "") for r in statics]
    predicted, order_costs = _predictions(data, embeddings, fold, folds, k)
    learned = []
    for threshold in thresholds:
        choices = np.array(
            [
                models.index(
                    quality_bounded_order(
                        models,
                        dict(zip(models, order_costs[fold[i]], strict=True)),
                        dict(zip(models, predicted[i], strict=True)),
                        threshold,
                    )[0]
                )
                for i in range(n)
            ],
            dtype=np.intp,
        )
        learned.append(score(f"learned@{threshold:g}", "learned", choices, threshold=threshold))
    results += learned
    best_single = singles[strongest]
    return Report(
        source=source,
        prompts=n,
        dropped=data.dropped,
        missing=dict(data.missing),
        models=models,
        cheapest=models[cheapest],
        strongest=models[strongest],
        best_single=models[strongest],
        best_static=best_static.name,
        folds=folds,
        seed=seed,
        embedder=embedder,
        policies=tuple(results),
        equal_quality=(_equal_quality(best_static, learned), _equal_quality(best_single, learned)),
    )


def _with_note(result: PolicyResult, note: str) -> PolicyResult:
    return replace(result, note=note) if note else result


class _Scorer:
    """Turns a policy's choice per prompt into its :class:`PolicyResult`."""

    def __init__(self, data: LabelledSet, cheapest: int, strongest: int) -> None:
        self.data = data
        self.strongest = strongest
        self.rows = np.arange(len(data))
        self.q_cheapest = float(data.scores[:, cheapest].mean())
        self.q_strongest = float(data.scores[:, strongest].mean())
        self.strongest_cost = float(data.costs[:, strongest].sum())

    def __call__(
        self,
        name: str,
        kind: str,
        choices: Choices,
        *,
        threshold: float | None = None,
        note: str = "",
    ) -> PolicyResult:
        cost = float(self.data.costs[self.rows, choices].sum())
        quality = float(self.data.scores[self.rows, choices].mean())
        gap = self.q_strongest - self.q_cheapest
        if gap > _EPS:
            recovered = (quality - self.q_cheapest) / gap
        else:
            recovered = 1.0 if quality >= self.q_strongest - _EPS else 0.0
        counts = np.bincount(choices, minlength=len(self.data.models))
        return PolicyResult(
            name=name,
            kind=kind,
            total_cost_usd=cost,
            mean_cost_usd=cost / len(self.data),
            quality=quality,
            strongest_share=float(counts[self.strongest]) / len(self.data),
            gap_recovered=recovered,
            cost_vs_strongest=cost / self.strongest_cost if self.strongest_cost > 0 else 0.0,
            calls={model: int(c) for model, c in zip(self.data.models, counts, strict=True)},
            threshold=threshold,
            note=note,
        )


def _best(scores: npt.NDArray[np.float64], costs: npt.NDArray[np.float64]) -> int:
    """The model of the highest mean score over these rows (equal: the cheaper, then first)."""
    quality, cost = scores.mean(axis=0), costs.mean(axis=0)
    return min(range(len(quality)), key=lambda j: (-quality[j], cost[j], j))


def _per_category_best(data: LabelledSet, fold: npt.NDArray[np.intp], folds: int) -> Choices:
    """Per prompt, the best model of its category on the other folds (no training prompt of
    the category: the best model over all training prompts)."""
    names, category = np.unique(np.array(data.categories, dtype=object), return_inverse=True)
    choices = np.empty(len(data), dtype=np.intp)
    for f in range(folds):
        train, test = fold != f, fold == f
        overall = _best(data.scores[train], data.costs[train])
        for c in range(len(names)):
            same = train & (category == c)
            best = _best(data.scores[same], data.costs[same]) if same.any() else overall
            choices[test & (category == c)] = best
    return choices


def _predictions(
    data: LabelledSet,
    embeddings: npt.NDArray[np.float32],
    fold: npt.NDArray[np.intp],
    folds: int,
    k: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each prompt's predicted quality per model ((prompts, models)), from a predictor trained
    on the other folds, and each fold's ordering costs (its training prompts' mean cost per
    model, (folds, models)): what the router knows before it calls a model."""
    n, m = data.scores.shape
    usable = np.linalg.norm(embeddings, axis=1) > 0
    categories = np.array(data.categories, dtype=object)
    predicted = np.empty((n, m), dtype=np.float64)
    order_costs = np.empty((folds, m), dtype=np.float64)
    for f in range(folds):
        train = fold != f
        order_costs[f] = data.costs[train].mean(axis=0)
        knn = KnnPredictor(embeddings.shape[1], k=k)
        for i in np.flatnonzero(train & usable):
            for j, model in enumerate(data.models):
                knn.add(model, embeddings[i], float(data.scores[i, j]))
        overall = data.scores[train].mean(axis=0)
        by_category = {
            c: data.scores[train & (categories == c)].mean(axis=0) for c in set(categories[train])
        }
        for i in np.flatnonzero(~train):
            prior = by_category.get(categories[i], overall)
            fallback = dict(zip(data.models, map(float, prior), strict=True))
            if not usable[i]:
                predicted[i] = prior
                continue
            found = knn.predict(embeddings[i], data.models, fallback)
            predicted[i] = [found[model].quality for model in data.models]
    return predicted, order_costs


def _equal_quality(baseline: PolicyResult, learned: Sequence[PolicyResult]) -> EqualQuality:
    target, base_cost = baseline.quality, baseline.total_cost_usd
    reaching = [r for r in learned if r.quality >= target - _EPS]
    pick = min(reaching, key=lambda r: (r.total_cost_usd, -r.quality), default=None)
    # A mix of a policy below the target and one reaching it: the cheapest mix that reaches it.
    costs = [r.total_cost_usd for r in reaching]
    for low in learned:
        for high in reaching:
            if low.quality < target - _EPS:
                share = (target - low.quality) / (high.quality - low.quality)
                costs.append(
                    low.total_cost_usd + share * (high.total_cost_usd - low.total_cost_usd)
                )
    interpolated = min(costs, default=None)

    def saving(cost: float | None) -> float | None:
        if cost is None or base_cost <= 0:
            return None
        return 100.0 * (1.0 - cost / base_cost)

    return EqualQuality(
        baseline=baseline.name,
        baseline_cost_usd=base_cost,
        baseline_quality=target,
        learned=pick.name if pick else None,
        learned_cost_usd=pick.total_cost_usd if pick else None,
        learned_quality=pick.quality if pick else None,
        saving_pct=saving(pick.total_cost_usd if pick else None),
        interpolated_cost_usd=interpolated,
        interpolated_saving_pct=saving(interpolated),
    )
