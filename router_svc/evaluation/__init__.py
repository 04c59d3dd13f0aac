"""Evaluation jobs: a judge model grades a sample of the router's answers, and the grades feed
the quality estimates as feedback (README, "Evaluation jobs").

Only the config is imported here: router_svc.config imports it, and the job's modules import
the router's translation and provider packages, which import router_svc.config (a cycle when
a provider module is the first one imported). Import the rest from its module:
``router_svc.evaluation.job`` (Evaluator, next_run...), ``.judge`` (grades), ``.sampler``.
"""

from .config import DEFAULT_RUBRIC, MODES, EvaluationConfig

__all__ = ["DEFAULT_RUBRIC", "MODES", "EvaluationConfig"]
