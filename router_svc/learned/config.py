"""Section ``[router.learned]``: the learned quality predictor (README, "Learned routing")."""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmrouter.config import ConfigError

__all__ = ["LearnedConfig"]


@dataclass(frozen=True)
class LearnedConfig:
    """The kNN predictor of quality-bounded routing: how a prompt is embedded, which labelled
    prompts it is compared with, and what is kept in memory for learning from feedback.

    Without ``embedding_model`` there is no predictor: a ``min_quality`` (the request's or its
    category's) is met on the models' category estimates alone, and nothing is embedded.
    """

    # Registry embedding model (embedding = true) that embeds each prompt a min_quality
    # applies to, and the labelled set ("" = no predictor). One embed call per such request,
    # billed in the ledger with source "learned_routing".
    embedding_model: str = ""
    # JSONL file of graded answers, one {"prompt": str, "model": str, "score": 0..1} a line,
    # embedded in the background at start ("" = none: the predictor learns from feedback
    # only). A file that cannot be read stops the start; a bad line is logged by number and
    # skipped; the prompts are not kept.
    labelled_set: str = ""
    # Rows of the labelled set per embed call while it loads.
    labelled_batch_size: int = 64
    # Nearest labelled prompts per model.
    k: int = 16
    # Fewest neighbours (with similarity >= min_similarity) for a "knn" prediction; with
    # fewer, the model's category estimate is used as it is.
    min_neighbours: int = 3
    # Cosine similarity below which a labelled prompt is no neighbour, in [-1, 1].
    min_similarity: float = 0.1
    # Pseudo-neighbours at the category estimate that a knn prediction is shrunk toward.
    shrinkage: float = 2.0
    # Labelled points kept per model (labelled set and feedback); beyond it the oldest goes.
    max_points_per_model: int = 50_000
    # Seconds the prompt's embed call may take; past it (or on its error) the category
    # estimates decide and Route says so.
    embed_timeout_s: float = 0.5
    # Characters of the prompt embedded: the last user message (else all the messages'
    # text), cut to this length.
    prompt_chars: int = 2000
    # Prompt vectors kept in memory, by request id, until feedback on the answer arrives
    # (least recently routed dropped first); never written anywhere.
    remembered_prompts: int = 10_000
    # Seconds a prompt vector waits for feedback before it is dropped.
    remembered_prompt_ttl_s: float = 3600.0
    # Seconds between reads of new feedback (MetricsService.ListFeedback) when none waits.
    feedback_poll_interval_s: float = 5.0

    def __post_init__(self) -> None:
        for name in (
            "labelled_batch_size",
            "k",
            "min_neighbours",
            "max_points_per_model",
            "prompt_chars",
            "remembered_prompts",
        ):
            if (value := getattr(self, name)) < 1:
                raise ConfigError(f"{name}: expected at least 1, got {value}")
        if not -1.0 <= self.min_similarity <= 1.0:
            raise ConfigError(f"min_similarity: expected -1 to 1, got {self.min_similarity}")
        if not self.shrinkage >= 0:
            raise ConfigError(f"shrinkage: expected 0 or more, got {self.shrinkage}")
        for name in ("embed_timeout_s", "remembered_prompt_ttl_s", "feedback_poll_interval_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}: expected a positive number of seconds, got {value}")
        if self.labelled_set and not self.embedding_model:
            raise ConfigError("labelled_set: needs embedding_model (the model that embeds it)")

    @property
    def enabled(self) -> bool:
        """Whether the predictor runs (an embedding model is configured)."""
        return bool(self.embedding_model)
