"""Section ``[router.quality]``: quality estimates learned from feedback (README, "Quality
estimates")."""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmrouter.config import ConfigError

__all__ = ["QualityConfig"]


@dataclass(frozen=True)
class QualityConfig:
    """How scores of answers (users' feedback, judges' grades) update each model's quality
    per category.

    Each model x category is a Beta-Bernoulli estimate with fractional scores: the prior's
    mean is the model's configured ``quality`` and its weight ``prior_weight`` pseudo-scores;
    every score ``s`` in [0, 1] adds ``s`` to alpha and ``1 - s`` to beta (a judge's grade
    ``judge_weight`` times that). Weighted scoring uses the posterior mean instead of the
    configured quality once the scores weigh ``min_samples`` or more.
    """

    # Off: scoring uses the configured quality only, and the metrics service is not asked.
    # On by default whenever the router records usage (record_usage) to the metrics service
    # at metrics_address, which keeps the scores.
    enabled: bool = True
    # Weight of the configured quality, in scores: 10 means the prior counts as ten scores
    # averaging the configured quality.
    prior_weight: float = 10.0
    # Scores (user scores plus judge_weight times judge grades) a model x category needs before
    # its estimate replaces the configured quality in scoring.
    min_samples: int = 20
    # What one evaluation judge's grade weighs against one user's score (0: judges ignored).
    judge_weight: float = 1.0
    # Seconds between reads of the metrics service's score sums (QueryQuality; a few rows,
    # never on the request path). While it does not answer, the last estimates are kept.
    refresh_s: float = 5.0
    # Seconds one read may take.
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("prior_weight", "refresh_s", "timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}: expected a positive number, got {value}")
        if not (math.isfinite(self.judge_weight) and self.judge_weight >= 0):
            raise ConfigError(f"judge_weight: expected a number >= 0, got {self.judge_weight}")
        if self.min_samples < 0:
            raise ConfigError(f"min_samples: expected 0 or more, got {self.min_samples}")
