"""Evaluation jobs: a judge model grades a sample of the router's answers, and the grades feed
the quality estimates as feedback (README, "Evaluation jobs")."""

from .config import DEFAULT_RUBRIC, MODES, EvaluationConfig
from .job import (
    EVALUATION_SOURCE,
    Evaluator,
    FeedbackNotStored,
    RunResult,
    SendFeedback,
    judge_source,
    next_run,
)
from .judge import Grade, Unreadable, read_absolute, read_pairwise
from .sampler import Sampler, SamplingEngine

__all__ = [
    "DEFAULT_RUBRIC",
    "EVALUATION_SOURCE",
    "MODES",
    "EvaluationConfig",
    "Evaluator",
    "FeedbackNotStored",
    "Grade",
    "RunResult",
    "Sampler",
    "SamplingEngine",
    "SendFeedback",
    "Unreadable",
    "judge_source",
    "next_run",
    "read_absolute",
    "read_pairwise",
]
