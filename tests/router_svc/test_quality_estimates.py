"""The quality estimates' maths, checked from first principles: the Beta CDF against the
binomial identity and closed forms, its quantiles against known values, the posterior's
mean, interval and threshold against the formulas of router_svc.quality.estimates, and the
cost of a lookup on the request path."""

from __future__ import annotations

import math
import time

import pytest

from llmrouter.config import ConfigError
from router_svc.quality import (
    QualityConfig,
    QualityEstimates,
    ScoreSums,
    beta_cdf,
    beta_interval,
    beta_ppf,
    estimate_of,
)

# The standard normal's 95th percentile (a textbook value).
Z95 = 1.6448536269514722


def binomial_tail(x: float, a: int, b: int) -> float:
    """``I_x(a, b)`` for whole ``a``, ``b``: P(Binomial(a + b - 1, x) >= a), summed exactly."""
    n = a + b - 1
    return math.fsum(math.comb(n, j) * x**j * (1 - x) ** (n - j) for j in range(a, n + 1))


@pytest.mark.parametrize(("a", "b"), [(1, 1), (2, 5), (5, 2), (3, 3), (10, 30), (40, 7), (1, 60)])
@pytest.mark.parametrize("x", [0.001, 0.05, 0.2, 0.5, 0.77, 0.95, 0.999])
def test_the_cdf_is_the_binomial_tail_for_whole_shapes(a: int, b: int, x: float) -> None:
    assert beta_cdf(x, a, b) == pytest.approx(binomial_tail(x, a, b), abs=1e-12)


@pytest.mark.parametrize("p", [0.01, 0.05, 0.3, 0.5, 0.9, 0.95, 0.999])
@pytest.mark.parametrize("shape", [0.5, 1.0, 2.5, 17.0])
def test_quantiles_match_the_closed_forms(p: float, shape: float) -> None:
    # Beta(a, 1): CDF x^a; Beta(1, b): CDF 1 - (1 - x)^b.
    assert beta_ppf(p, shape, 1.0) == pytest.approx(p ** (1 / shape), abs=1e-9)
    assert beta_ppf(p, 1.0, shape) == pytest.approx(1 - (1 - p) ** (1 / shape), abs=1e-9)


def test_known_quantiles() -> None:
    # Beta(2, 5) 5 % and 95 % points (as published by statistical tables and scipy).
    assert beta_ppf(0.05, 2, 5) == pytest.approx(0.0628498917, abs=1e-9)
    assert beta_ppf(0.95, 2, 5) == pytest.approx(0.5818034093, abs=1e-9)
    # Beta(2, 2): CDF 3x^2 - 2x^3, so the median is 1/2 and the 0.104 point is 0.2.
    assert beta_ppf(0.5, 2, 2) == pytest.approx(0.5, abs=1e-12)
    assert beta_ppf(3 * 0.04 - 2 * 0.008, 2, 2) == pytest.approx(0.2, abs=1e-9)


@pytest.mark.parametrize(("a", "b"), [(0.7, 3.1), (12.5, 4.25), (400.0, 900.0), (3.0, 20000.0)])
def test_quantiles_invert_the_cdf_and_mirror(a: float, b: float) -> None:
    for p in (0.05, 0.5, 0.95):
        x = beta_ppf(p, a, b)
        assert beta_cdf(x, a, b) == pytest.approx(p, abs=1e-9)
        assert beta_ppf(1 - p, b, a) == pytest.approx(1 - x, abs=1e-9)


def test_many_scores_approach_the_normal_interval() -> None:
    a = b = 5000.0
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    lower, upper = beta_interval(a, b, 0.9)
    assert lower == pytest.approx(0.5 - Z95 * sd, abs=1e-6)
    assert upper == pytest.approx(0.5 + Z95 * sd, abs=1e-6)


def test_bad_shapes_and_probabilities_are_refused() -> None:
    for a, b in ((0, 1), (1, -1), (math.inf, 1), (math.nan, 2)):
        with pytest.raises(ValueError, match="positive and finite"):
            beta_cdf(0.5, a, b)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        beta_ppf(1.5, 2, 2)


CONFIG = QualityConfig(prior_weight=10, min_samples=20, judge_weight=0.5)


def test_no_scores_leaves_the_prior_and_its_interval() -> None:
    estimate = estimate_of("m", "code", 0.7, ScoreSums(), CONFIG)
    assert (estimate.estimate, estimate.samples, estimate.in_use) == (pytest.approx(0.7), 0, False)
    assert (estimate.lower, estimate.upper) == pytest.approx(beta_interval(7, 3, 0.9))
    assert estimate.prediction.source == "prior"
    assert estimate.prediction.quality == 0.7
    assert estimate.prediction.describe() == "0.70 (prior)"


def test_the_posterior_adds_fractional_scores_to_alpha_and_beta() -> None:
    # 30 user scores summing to 9 (e.g. thumbs and stars), 8 judge grades summing to 6.
    sums = ScoreSums(user_count=30, user_sum=9.0, judge_count=8, judge_sum=6.0)
    estimate = estimate_of("m", "code", 0.7, sums, CONFIG)
    alpha = 0.7 * 10 + 9.0 + 0.5 * 6.0
    beta = 0.3 * 10 + 21.0 + 0.5 * 2.0
    assert estimate.estimate == pytest.approx(alpha / (alpha + beta))
    assert (estimate.lower, estimate.upper) == pytest.approx(beta_interval(alpha, beta, 0.9))
    assert estimate.lower < estimate.estimate < estimate.upper
    assert estimate.observed_mean == pytest.approx(15 / 38)
    assert (estimate.user_samples, estimate.judge_samples, estimate.samples) == (30, 8, 38)
    assert estimate.in_use
    assert estimate.prediction.source == "category"
    assert estimate.prediction.describe() == f"{alpha / (alpha + beta):.2f} (feedback, n=38)"


def test_the_estimate_is_used_once_the_scores_weigh_min_samples() -> None:
    # Judges weigh half: 19 user scores and 2 judge grades weigh exactly 20.
    enough = estimate_of("m", "c", 0.5, ScoreSums(19, 19.0, 2, 2.0), CONFIG)
    short = estimate_of("m", "c", 0.5, ScoreSums(19, 19.0, 1, 1.0), CONFIG)
    assert enough.in_use
    assert not short.in_use
    assert short.prediction.quality == 0.5  # the configured quality, not the posterior
    assert short.prediction.describe() == "0.50 (prior, n=20 < 20)"
    # The listed estimate keeps the posterior's interval, so an operator sees where it is
    # heading; what scoring is given (Route's candidates) has the prior's own interval.
    assert short.lower > 0.5
    assert (short.prediction.lower, short.prediction.upper) == pytest.approx(
        beta_interval(5, 5, 0.9)
    )


def test_a_prior_in_use_reports_its_own_interval_not_the_posteriors() -> None:
    # The trial's case: configured 0.30, 11 scores all up, not yet 20: the posterior's
    # interval (about 0.46 to 0.80) would not hold the 0.30 scoring is given.
    config = QualityConfig(prior_weight=10, min_samples=20, judge_weight=1)
    estimate = estimate_of("m", "c", 0.3, ScoreSums(11, 11.0, 0, 0.0), config)
    prediction = estimate.prediction
    assert (prediction.source, prediction.quality) == ("prior", 0.3)
    assert prediction.describe() == "0.30 (prior, n=11 < 20)"
    assert (prediction.lower, prediction.upper) == pytest.approx(beta_interval(3, 7, 0.9))
    assert prediction.lower < prediction.quality < prediction.upper
    assert estimate.lower > 0.3  # the listed posterior, as before
    # Once the estimate is in use, scoring is given the posterior and its interval.
    used = estimate_of("m", "c", 0.3, ScoreSums(25, 25.0, 0, 0.0), config).prediction
    assert used.source == "category"
    assert used.lower < used.quality < used.upper


def test_judges_can_be_ignored() -> None:
    config = QualityConfig(prior_weight=10, min_samples=1, judge_weight=0)
    estimate = estimate_of("m", "c", 0.5, ScoreSums(0, 0.0, 50, 50.0), config)
    assert estimate.estimate == pytest.approx(0.5)
    assert not estimate.in_use


def test_a_configured_quality_of_zero_or_one_still_has_an_interval() -> None:
    for prior in (0.0, 1.0):
        estimate = estimate_of("m", "c", prior, ScoreSums(), CONFIG)
        assert 0.0 <= estimate.lower <= estimate.upper <= 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prior_weight", 0),
        ("refresh_s", -1),
        ("timeout_s", math.nan),
        ("judge_weight", -0.5),
        ("min_samples", -1),
    ],
)
def test_bad_settings_name_their_key(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"^{field}: "):
        QualityConfig(**{field: value})


async def test_updates_recompute_only_what_changed_and_lookups_follow() -> None:
    priors = {"big": 0.8, "small": 0.4}
    estimates = QualityEstimates(CONFIG, priors.get)
    assert estimates.prediction("big", "code", 0.8).source == "prior"
    first = {("big", "code"): ScoreSums(25, 5.0), ("small", "code"): ScoreSums(3, 3.0)}
    assert await estimates.update(first) == 2
    assert await estimates.update(first) == 0
    assert await estimates.update({**first, ("big", "code"): ScoreSums(26, 5.0)}) == 1
    big = estimates.prediction("big", "code", 0.8)
    alpha, beta = 0.8 * 10 + 5, 0.2 * 10 + 21
    assert (big.source, big.quality, big.samples) == ("category", alpha / (alpha + beta), 26)
    # Another category of the same model has no scores: its prior.
    assert estimates.prediction("big", "general", 0.8).source == "prior"
    assert estimates.prediction("small", "code", 0.4).describe() == "0.40 (prior, n=3 < 20)"
    listed = [(e.model, e.category, e.samples) for e in estimates.estimates()]
    assert listed == [("big", "code", 26), ("small", "code", 3)]
    # A pair whose scores are gone (no longer in the sums) is dropped.
    await estimates.update({("small", "code"): ScoreSums(3, 3.0)})
    assert [e.model for e in estimates.estimates()] == ["small"]
    assert estimates.prediction("big", "code", 0.8).source == "prior"


async def test_a_lookup_on_the_request_path_costs_well_under_a_microsecond_or_two() -> None:
    estimates = QualityEstimates(CONFIG, {"big": 0.8}.get)
    await estimates.update({("big", "code"): ScoreSums(100, 70.0)})
    estimates.prime([("big", 0.8)])
    n = 100_000
    start = time.perf_counter()
    for _ in range(n):
        estimates.prediction("big", "code", 0.8)
        estimates.prediction("big", "general", 0.8)
    per_lookup_us = (time.perf_counter() - start) / (2 * n) * 1e6
    # About 0.2 us here; the bound leaves room for a slow, shared machine.
    assert per_lookup_us < 5, per_lookup_us
