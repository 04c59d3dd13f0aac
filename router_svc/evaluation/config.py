"""Section ``[router.evaluation]``: evaluation jobs, a judge model grading sampled answers
(README, "Evaluation jobs").

Off by default, and doubly so: nothing is sampled unless ``enabled`` is true *and* the router's
``store_content`` is true (prompts and answers are kept only then, only for sampled requests,
and only until graded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmrouter.config import ConfigError

__all__ = ["DEFAULT_RUBRIC", "MODES", "EvaluationConfig"]

#: How the judge scores: ``absolute`` grades the answer 1-10 against the rubric; ``pairwise``
#: compares it with the reference model's answer to the same conversation.
MODES = ("absolute", "pairwise")

DEFAULT_RUBRIC = (
    "Judge how well the answer serves the user's last request in this conversation: is it "
    "correct, complete and relevant, does it follow the instructions it was given, and is it "
    "clear and no longer than it needs to be? Prefer answers that say when they do not know "
    "over confident mistakes."
)


@dataclass(frozen=True)
class EvaluationConfig:
    """Which answers are sampled, who grades them and when.

    The judge (and, in pairwise mode, the reference model) is called through the router's own
    engine: failover, breakers and prices apply, and its usage is in the ledger with source
    and front door ``evaluation``. Grades go to the metrics service as feedback
    (``RecordFeedback``, source ``judge:<judge_model>``).
    """

    # Off: nothing is sampled, no job runs, RunEvaluation answers FAILED_PRECONDITION.
    enabled: bool = False
    # Share of successful chat answers (Complete and StreamComplete; response-cache hits
    # aside) sampled for grading, 0 to 1.
    sample_rate: float = 0.01
    # Registry chat model that grades (required when enabled).
    judge_model: str = ""
    # absolute (a grade 1-10 against the rubric, scored (grade - 1) / 9) or pairwise (the
    # sampled answer against reference_model's answer: win 1, tie 0.5, loss 0).
    mode: str = "absolute"
    # Registry chat model whose answer, generated when the job runs, the sampled answer is
    # compared with (pairwise mode; required there).
    reference_model: str = ""
    # What the judge is told good means ("": the built-in rubric).
    rubric: str = ""
    # Cron expression (five fields, UTC) of scheduled runs, e.g. "0 * * * *" hourly; "": on
    # demand only (RunEvaluation, llmrouter eval run).
    schedule: str = ""
    # Most samples a scheduled run grades.
    max_samples_per_run: int = 100
    # Most samples stored waiting to be graded; sampled answers beyond it are not kept.
    max_pending: int = 10_000
    # Seconds a sample waits at most: older ones are deleted ungraded.
    retention_s: float = 7 * 86_400.0
    # Tries per sample (a judge call that fails, or a grade that cannot be read) before the
    # sample is deleted ungraded.
    max_attempts: int = 3

    @property
    def judge_rubric(self) -> str:
        """The rubric the judge is given: ``rubric``, or the built-in one."""
        return self.rubric.strip() or DEFAULT_RUBRIC

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sample_rate) and 0 <= self.sample_rate <= 1):
            raise ConfigError(f"sample_rate: expected 0 to 1, got {self.sample_rate}")
        if self.mode not in MODES:
            raise ConfigError(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("max_samples_per_run", "max_pending", "max_attempts"):
            if (value := getattr(self, name)) < 1:
                raise ConfigError(f"{name}: expected at least 1, got {value}")
        if not self.retention_s > 0:
            raise ConfigError(f"retention_s: expected a positive number, got {self.retention_s}")
        if self.schedule.strip():
            from .cron import check_schedule  # croniter, only for a schedule

            check_schedule(self.schedule)
        if not self.enabled:
            return
        if not self.judge_model:
            raise ConfigError("judge_model: name the registry model that grades (enabled = true)")
        if self.mode == "pairwise" and not self.reference_model:
            raise ConfigError(
                "reference_model: pairwise mode compares with this registry model's answer"
            )
