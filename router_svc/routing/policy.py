"""Routing decisions: which category a request belongs to and which models to try, in order."""

from __future__ import annotations

from dataclasses import dataclass

from ..chat import ChatRequest
from ..config import CategoryConfig
from ..errors import ModelNotFound
from ..registry import ModelEntry, Registry
from ..tokens import estimate_prompt_tokens

__all__ = ["AUTO", "Candidate", "Decision", "Policy", "Skip"]

AUTO = "auto"
# Completion tokens assumed when the request sets no max_tokens.
_DEFAULT_COMPLETION_TOKENS = 256


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model to try, with the reason for its place."""

    entry: ModelEntry
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    """A model of the chain that will not be tried. ``reason`` is a SkipReason name suffix."""

    model: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The category and the ordered candidates for one request."""

    category: str
    category_source: str
    candidates: tuple[Candidate, ...]
    skipped: tuple[Skip, ...]
    estimated_prompt_tokens: int


class Policy:
    """Turns a request into a :class:`Decision` using the registry and the categories."""

    def __init__(
        self,
        registry: Registry,
        categories: tuple[CategoryConfig, ...],
        default_chain: tuple[str, ...],
    ) -> None:
        self._registry = registry
        self._categories = {c.name: c for c in categories}
        self._default_chain = default_chain

    def decide(self, request: ChatRequest) -> Decision:
        """Decide without calling any model."""
        prompt_tokens = estimate_prompt_tokens(request)
        if request.model and request.model != AUTO:
            entry = self._registry.get(request.model)
            if entry is None:
                raise ModelNotFound(f"model {request.model!r} does not exist", field="model")
            chain: tuple[str, ...] = (entry.name,)
            category, source = request.category or "explicit", "explicit_model"
        else:
            category, source = self._category(request)
            known = self._categories.get(category)
            chain = known.chain if known else self._default_chain
        candidates: list[Candidate] = []
        skipped: list[Skip] = []
        needed = prompt_tokens + (request.max_tokens or _DEFAULT_COMPLETION_TOKENS)
        for position, name in enumerate(chain):
            entry = self._registry.get(name)
            if entry is None:
                skipped.append(Skip(name, "UNKNOWN_MODEL", "not in the registry"))
                continue
            skip = _filter(entry, request, needed)
            if skip is not None:
                skipped.append(skip)
                continue
            candidates.append(Candidate(entry, 0.0, f"chain position {position + 1}"))
        return Decision(category, source, tuple(candidates), tuple(skipped), prompt_tokens)

    def _category(self, request: ChatRequest) -> tuple[str, str]:
        if request.category:
            return request.category, "pinned"
        if request.tools and "tools" in self._categories:
            return "tools", "tools"
        return "default", "default"


def _filter(entry: ModelEntry, request: ChatRequest, needed_tokens: int) -> Skip | None:
    config = entry.config
    if not entry.enabled:
        return Skip(entry.name, "DISABLED", "disabled")
    if request.tools and not config.tools:
        return Skip(entry.name, "MISSING_CAPABILITY", "does not support tools")
    if request.needs_vision and not config.vision:
        return Skip(entry.name, "MISSING_CAPABILITY", "does not accept images")
    if request.needs_json and not config.json_mode:
        return Skip(entry.name, "MISSING_CAPABILITY", "does not support JSON output")
    if needed_tokens > config.context_window:
        return Skip(
            entry.name,
            "CONTEXT_WINDOW",
            f"needs about {needed_tokens} tokens, window is {config.context_window}",
        )
    return None
