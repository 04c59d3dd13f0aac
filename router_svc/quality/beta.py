"""The Beta distribution's CDF (the regularized incomplete beta function) and its inverse, in
plain Python: the quality estimates' credible intervals (scipy is not a dependency).

``I_x(a, b)`` is evaluated by its continued fraction (modified Lentz's method; Numerical
Recipes, 3rd ed., section 6.4), on whichever of ``x`` and ``1 - x`` converges fast, with the
prefactor in logs (``math.lgamma``), so large ``a`` and ``b`` (thousands of scores) neither
overflow nor lose the tails. The quantile is found by Newton's method on the CDF (its
derivative is the density), started from the normal approximation and kept inside a bracket
that bisection narrows when a step would leave it, so it always converges. A quantile costs
tens to a few hundred microseconds; the estimates compute two per changed model x category,
off the request path.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["beta_cdf", "beta_interval", "beta_ppf"]

_EPS: Final = 1e-15
_TINY: Final = 1e-300
_MAX_TERMS: Final = 100_000
_TOLERANCE: Final = 1e-12


def beta_cdf(x: float, a: float, b: float) -> float:
    """``P(X <= x)`` for ``X ~ Beta(a, b)``: the regularized incomplete beta ``I_x(a, b)``.

    Raises ValueError unless ``a`` and ``b`` are positive and finite.
    """
    _check(a, b)
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); beyond it, use
    # the symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _fraction(1.0 - x, b, a) / b


def beta_ppf(p: float, a: float, b: float) -> float:
    """The ``p`` quantile of ``Beta(a, b)``: the ``x`` with ``I_x(a, b) = p`` (to 1e-12).

    Raises ValueError unless ``0 <= p <= 1`` and ``a``, ``b`` are positive and finite.
    """
    _check(a, b)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    # Newton's method on the CDF from the normal approximation's guess, kept inside a
    # bracket that bisection narrows whenever a step would leave it: a handful of CDFs
    # instead of bisection's fifty.
    low, high = 0.0, 1.0
    x = _normal_guess(p, a, b)
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    for _ in range(200):
        error = beta_cdf(x, a, b) - p
        if error < 0:
            low = x
        else:
            high = x
        density = math.exp((a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - log_beta)
        step = error / density if density > 0 else math.inf
        nxt = x - step
        if not low < nxt < high:
            nxt = (low + high) / 2
        if abs(nxt - x) < _TOLERANCE or high - low < _TOLERANCE:
            return nxt
        x = nxt
    return x  # pragma: no cover - the bracket halves at worst every other step


def beta_interval(a: float, b: float, mass: float = 0.9) -> tuple[float, float]:
    """The equal-tailed credible interval of ``Beta(a, b)`` holding ``mass`` of it."""
    tail = (1.0 - mass) / 2
    lower, upper = beta_ppf(tail, a, b), beta_ppf(1.0 - tail, a, b)
    # A degenerate Beta (a shape near 0) puts both ends below the quantiles' 1e-12
    # resolution, where their order is noise.
    return min(lower, upper), upper


def _normal_guess(p: float, a: float, b: float) -> float:
    """A starting point: the quantile of the normal with the Beta's mean and variance, kept
    inside (0, 1)."""
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    guess = mean + sd * math.sqrt(2) * _erfinv(2 * p - 1)
    return min(max(guess, 1e-9), 1 - 1e-9)


def _erfinv(y: float) -> float:
    """The inverse error function, to about 1e-3 (Winitzki's approximation): good enough
    for a starting point."""
    k = 0.147
    ln = math.log1p(-y * y)
    first = 2 / (math.pi * k) + ln / 2
    return math.copysign(math.sqrt(math.sqrt(first * first - ln / k) - first), y)


def _fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of ``I_x(a, b)`` (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_TERMS + 1):
        m2 = 2 * m
        # The even step.
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        # The odd step.
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    return h  # pragma: no cover - converges in O(sqrt(max(a, b))) terms


def _check(a: float, b: float) -> None:
    if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
        raise ValueError(f"a and b must be positive and finite, got a={a}, b={b}")
