"""The learned quality predictor as the router runs it: one embed call per prompt, the kNN
predictor over labelled prompts (:class:`llmrouter.learned.knn.KnnPredictor`), and the prompt
vectors kept for learning from feedback.

The predictor's points come from the labelled set (loaded in the background at start,
:mod:`.labelled`) and from feedback on answers it routed (:mod:`.follower`); both add through
:meth:`LearnedPredictor.learn`. Everything runs on the event loop: ``learn`` and ``predict``
are synchronous and CPU-only, so nothing else sees a half-added point.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from llmrouter.learned.knn import KnnPredictor, Prediction

from ..chat import ChatRequest
from ..embeddings import EmbedRequest
from ..errors import RouterError
from .config import LearnedConfig
from .prompts import PromptVectors, Vector, prompt_text

if TYPE_CHECKING:
    from ..routing.embed import EmbedServed

__all__ = ["LEARNED_SOURCE", "EmbedCall", "LearnedPredictor"]

log = logging.getLogger(__name__)

# UsageRecord.source of the embed calls the predictor makes (prompts and the labelled set).
LEARNED_SOURCE = "learned_routing"

# The router's embedding engine: Embedder.embed(request, deadline) (monotonic deadline).
EmbedCall = Callable[[EmbedRequest, float], Awaitable["EmbedServed"]]


class LearnedPredictor:
    """Embeds prompts with ``config.embedding_model`` and predicts each model's quality for
    them from the labelled points; keeps routed prompts' vectors for feedback.

    ``embed`` is the router's embedding engine (set later with :meth:`attach` when it is
    built after the predictor). The kNN store is created at the first vector, with its
    length; a vector of another length afterwards (the embedding model changed) is refused.
    """

    def __init__(
        self,
        config: LearnedConfig,
        embed: EmbedCall | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._embed = embed
        self._clock = clock
        self.knn: KnnPredictor | None = None
        self.prompts = PromptVectors(
            config.remembered_prompts, config.remembered_prompt_ttl_s, clock
        )
        # The last embed failure's reason ("" once one succeeded again): logged on change.
        self._failing = ""

    def __repr__(self) -> str:
        return f"LearnedPredictor({self.config.embedding_model!r}, {self.points} points)"

    @property
    def embedding_model(self) -> str:
        """The registry embedding model that embeds prompts."""
        return self.config.embedding_model

    @property
    def points(self) -> int:
        """Labelled points held, over all models."""
        return len(self.knn) if self.knn is not None else 0

    @property
    def embedder(self) -> EmbedCall | None:
        """The embedding engine in use (None until :meth:`attach`)."""
        return self._embed

    def attach(self, embed: EmbedCall) -> None:
        """Use ``embed`` (the router's :meth:`Embedder.embed`) from now on."""
        self._embed = embed

    def embed_request(
        self, texts: Sequence[str], request: ChatRequest | None = None
    ) -> EmbedRequest:
        """The embed request for ``texts``: billed to ``request``'s key and team when it is a
        caller's prompt (the router's own for the labelled set), source "learned_routing"."""
        return EmbedRequest(
            model=self.config.embedding_model,
            inputs=tuple(texts),
            source=LEARNED_SOURCE,
            api_key_id=request.api_key_id if request is not None else "",
            team_id=request.team_id if request is not None else "",
        )

    async def embed_prompt(self, request: ChatRequest) -> Vector | str:
        """The unit vector of ``request``'s prompt (:func:`.prompts.prompt_text`), or why there
        is none (a short reason for Route: no text, timed out, the embed call's error)."""
        text = prompt_text(request, self.config.prompt_chars)
        if not text.strip():
            return "no text to embed"
        if self._embed is None:
            return "embedding engine not started"
        timeout = self.config.embed_timeout_s
        try:
            async with asyncio.timeout(timeout):
                served = await self._embed(
                    self.embed_request((text,), request), self._clock() + timeout
                )
            vector = self._checked(np.asarray(served.vectors[0], dtype=np.float32))
        except TimeoutError:
            return self._failed(f"embedding timed out after {timeout:g} s")
        except RouterError as exc:
            return self._failed(f"embedding failed: {exc.reason}")
        except ValueError as exc:
            return self._failed(f"embedding unusable: {exc}")
        if self._failing:
            log.warning("learned routing: %s embeds prompts again", self.embedding_model)
            self._failing = ""
        return vector

    def _failed(self, reason: str) -> str:
        if reason != self._failing:
            # Once per change, not per request; the reason names no prompt.
            log.warning(
                "learned routing: %s (model %s); category estimates decide meanwhile",
                reason,
                self.embedding_model,
            )
            self._failing = reason
        return reason

    def _checked(self, vector: Vector) -> Vector:
        """``vector`` scaled to length 1; ValueError when it cannot be used (zeros, not
        finite, another length than the points')."""
        if vector.ndim != 1 or not len(vector):
            raise ValueError("not a vector")
        if self.knn is not None and len(vector) != self.knn.dimensions:
            raise ValueError(f"{len(vector)} dimensions, the points have {self.knn.dimensions}")
        norm = float(np.linalg.norm(vector))
        if not (norm > 0 and np.isfinite(norm)):
            raise ValueError("all zeros or not finite")
        return vector / norm

    def predict(
        self, vector: Vector, models: Iterable[str], fallback: Mapping[str, float]
    ) -> dict[str, Prediction]:
        """Each model's predicted quality for the prompt ``vector`` (a "fallback" prediction,
        with the fallback as its quality, for a model with too few neighbours)."""
        if self.knn is None:
            return {m: Prediction(fallback.get(m, 0.5), "fallback", 0, 0.0) for m in models}
        return self.knn.predict(vector, models, fallback)

    def learn(self, model: str, vector: Vector, score: float, key: str = "") -> None:
        """Add a labelled point (a graded answer of ``model`` to the prompt ``vector``); a
        ``key`` added before is replaced. ValueError for an unusable vector or score."""
        if self.knn is None:
            config = self.config
            self.knn = KnnPredictor(
                len(vector),
                k=config.k,
                min_neighbours=config.min_neighbours,
                min_similarity=config.min_similarity,
                shrinkage=config.shrinkage,
                max_points_per_model=config.max_points_per_model,
            )
        self.knn.add(model, vector, score, key)

    def remember(self, request_id: str, vector: Vector) -> None:
        """Keep the prompt vector of the routed request ``request_id`` for its feedback."""
        self.prompts.add(request_id, vector)

    def recall(self, request_id: str) -> Vector | None:
        """The prompt vector of ``request_id`` while it is kept."""
        return self.prompts.get(request_id)
