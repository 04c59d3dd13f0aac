"""Routing decisions: which category a request belongs to and which models to try, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from llmrouter.token_estimate import DEFAULT_COMPLETION_TOKENS
from llmrouter.values import frozen

from ..chat import ChatRequest
from ..config import CategoryConfig
from ..errors import InvalidRequest, ModelNotAllowed, ModelNotFound
from ..learned.estimates import ConfiguredQuality
from ..learned.prompts import Vector
from ..quality.estimates import QualityEstimates, QualityPrediction
from ..registry import ModelEntry, Registry
from ..tokens import estimate_prompt_tokens
from .allowed import Allowance
from .classify import Classification, Classifier
from .quality import QualityRouting

__all__ = ["AUTO", "Candidate", "Decision", "Policy", "Skip", "request_cost"]

AUTO = "auto"
# Latency assumed for models without observations when scoring (seconds).
_UNKNOWN_LATENCY_S = 1.0


@frozen
class Candidate:
    """A model to try, with the reason for its place."""

    entry: ModelEntry
    score: float
    reason: str
    # The model's estimated quality: the one its score used (preferences weighing quality)
    # or the one that placed it under a quality bound (None otherwise).
    quality: QualityPrediction | None = None
    # The model's deployments that can take the request, balanced over by the schedule
    # (router_svc.routing.balance); () for a model without deployments (``entry`` serves).
    deployments: tuple[ModelEntry, ...] = ()
    # Route only: the deployment a first attempt would use now and why ("" otherwise).
    deployment: str = ""


@frozen
class Skip:
    """A model of the chain that will not be tried. ``reason`` is a SkipReason name suffix."""

    model: str
    reason: str
    detail: str
    # The request field the model cannot take (MISSING_CAPABILITY), "" when not one field.
    field: str = ""


@frozen
class Decision:
    """The category and the ordered candidates for one request."""

    category: str
    category_source: str
    candidates: tuple[Candidate, ...]
    skipped: tuple[Skip, ...]
    estimated_prompt_tokens: int
    # The model listed before every candidate that was skipped because its circuit is open
    # ("" if none): the request's first attempt is then a fallback from it (BREAKER_OPEN).
    passed_over: str = ""
    # The quality bound the chain's order honours (the request's or its category's); None
    # when none applied.
    min_quality: float | None = None
    # The embedding model the learned predictor embedded the prompt with ("" when it did not).
    predictor_embedding_model: str = ""
    # That embedding of the prompt, kept (in memory only) for feedback on the answer. Derived
    # from the prompt: never in a repr, a log, a span or a record.
    prompt_vector: Vector | None = field(default=None, compare=False, repr=False)


class Policy:
    """Turns a request into a :class:`Decision` using the registry and the categories."""

    def __init__(
        self,
        registry: Registry,
        categories: Sequence[CategoryConfig],
        default_chain: tuple[str, ...],
        classifier: Classifier,
        bounded: QualityRouting | None = None,
    ) -> None:
        """``bounded``: how a min_quality orders a chain (default: the models' configured
        quality, no predictor)."""
        self.registry = registry
        self._default_chain = default_chain
        self.classifier = classifier
        # Estimates learned from feedback ([router.quality]); None: the configured quality.
        self.quality: QualityEstimates | None = None
        # How a quality bound orders a chain (README "Learned routing").
        self.bounded = bounded or QualityRouting(ConfiguredQuality(registry))
        self._categories: dict[str, CategoryConfig] = {}
        self.set_categories(categories)

    @property
    def categories(self) -> list[CategoryConfig]:
        """Current categories, in order."""
        return list(self._categories.values())

    @property
    def default_chain(self) -> tuple[str, ...]:
        """The chain of "auto" requests whose category has none of its own."""
        return self._default_chain

    def remember_prompt(self, request_id: str, vector: Vector) -> None:
        """Keep the prompt vector of a routed request (its decision's) for feedback on its
        answer, when the learned predictor runs."""
        if (predictor := self.bounded.predictor) is not None:
            predictor.remember(request_id, vector)

    def set_categories(self, categories: Sequence[CategoryConfig]) -> None:
        """Replace the categories (runtime edits) and recompile the keyword rules."""
        self._categories = {c.name: c for c in categories}
        # Whether any category has a quality bound (else a request without one skips the look).
        self._any_category_bound = any(c.min_quality is not None for c in categories)
        self.classifier.rebuild(categories)

    async def decide(self, request: ChatRequest) -> Decision:
        """Decide without calling any model (except a configured classifier model).

        The chain is the named model, or the chain of a category named as the model (a model
        of that name wins), or the category's chain for "auto", followed by the
        fallbacks: the request's (``fallback_models``) or else, for a named model, the ones
        configured on it. A model already in the chain is not added again. Raises
        ModelNotFound for an unknown ``model``, InvalidRequest for an unknown fallback, and
        ModelNotAllowed when the caller's key may not use the model (or any of the chain:
        :mod:`router_svc.routing.allowed`).

        A min_quality (the request's, else its category's) orders a category's chain, not a
        named model: the cheapest candidate estimated to reach it first
        (:mod:`router_svc.routing.quality`; it overrides ``preferences``). Without one this
        makes no embed call and does no quality work.
        """
        allow = Allowance.of(request.allowed_models, self._categories)
        named: ModelEntry | None = None
        as_category: CategoryConfig | None = None
        if request.model and request.model != AUTO:
            named = self.registry.get(request.model)
            # A category named as the model (GET /v1/models lists them): its chain, as for
            # "auto" with the category pinned. A model of the same name wins.
            as_category = None if named is not None else self._categories.get(request.model)
            if named is None and as_category is None:
                raise ModelNotFound(f"model {request.model!r} does not exist", field="chat.model")
        if named is not None:
            if allow is not None:
                allow.check_model(request.model, named.name)
            found = Classification(request.category or "explicit", "explicit_model")
            chain: tuple[str, ...] = (named.name,)
        elif as_category is not None:
            found = Classification(as_category.name, "model")
            chain = as_category.chain
            if allow is not None:
                chain = allow.chain(as_category.name, chain)
        else:
            if request.category:
                found = Classification(request.category, "pinned")
            else:
                found = await self.classifier.classify(request)
            known = self._categories.get(found.category)
            chain = known.chain if known else self._default_chain
            if allow is not None:
                chain = allow.chain(found.category, chain)
        fallbacks = self._fallbacks(request, named)
        if allow is not None:
            fallbacks = self._allowed_fallbacks(request, fallbacks, allow)
        bound = request.min_quality
        if bound is None and self._any_category_bound and named is None:
            configured = as_category or self._categories.get(found.category)
            bound = configured.min_quality if configured is not None else None
        if bound is None or named is not None:
            return self._decide(request, found, chain, fallbacks)
        return await self._decide_bounded(request, found, chain, fallbacks, bound)

    @staticmethod
    def _allowed_fallbacks(
        request: ChatRequest, fallbacks: list[_Listed], allow: Allowance
    ) -> list[_Listed]:
        """Fallbacks the key may use: one the request names is refused (naming it); a
        configured one is left out."""
        kept = []
        for i, item in enumerate(fallbacks):
            entry_name = item.entry.name if item.entry is not None else item.name
            if allow.model(item.name, entry_name):
                kept.append(item)
            elif request.fallback_models:
                raise ModelNotAllowed(
                    f"This API key may not use the model '{item.name}'.",
                    field=f"chat.fallback_models[{i}]",
                    metadata={"model": item.name},
                )
        return kept

    def _fallbacks(self, request: ChatRequest, named: ModelEntry | None) -> list[_Listed]:
        """The request's fallbacks, else the named model's configured ones, with reasons."""
        if request.fallback_models:
            fallbacks = []
            for i, name in enumerate(request.fallback_models):
                entry = self.registry.get(name)
                if entry is None:
                    raise InvalidRequest(
                        f"fallback model {name!r} does not exist",
                        field=f"chat.fallback_models[{i}]",
                    )
                fallbacks.append(_Listed(name, entry, f"fallback {i + 1} (request)"))
            return fallbacks
        if named is None:
            return []
        return [
            _Listed(name, self.registry.get(name), f"fallback {i + 1} (config)")
            for i, name in enumerate(named.config.fallbacks)
        ]

    def _decide(
        self,
        request: ChatRequest,
        found: Classification,
        chain: tuple[str, ...],
        fallbacks: Sequence[_Listed],
    ) -> Decision:
        kept, kept_fallbacks, skipped, passed_over, prompt_tokens = self._sift(
            request, chain, fallbacks
        )
        # Preferences order the chain; fallbacks always come after it, in the order given.
        if request.preferences.active and len(kept) > 1:
            candidates = _by_score(request, kept, prompt_tokens, found.category, self.quality)
        else:
            candidates = [
                Candidate(e, 0.0, f"chain position {p + 1}", deployments=d) for p, e, d in kept
            ]
        return Decision(
            found.category,
            found.source,
            (*candidates, *kept_fallbacks),
            tuple(skipped),
            prompt_tokens,
            passed_over,
        )

    async def _decide_bounded(
        self,
        request: ChatRequest,
        found: Classification,
        chain: tuple[str, ...],
        fallbacks: Sequence[_Listed],
        bound: float,
    ) -> Decision:
        """The decision with the chain in quality-bounded order (:mod:`.quality`)."""
        kept, kept_fallbacks, skipped, passed_over, prompt_tokens = self._sift(
            request, chain, fallbacks
        )
        entries = [e for _, e, _ in kept]
        serving = {e.name: d for _, e, d in kept}
        candidates: list[Candidate] = []
        embedding_model, vector = "", None
        if entries:
            completion = request.output_limit or DEFAULT_COMPLETION_TOKENS
            costs = {
                e.name: expected_cost(serving[e.name] or (e,), prompt_tokens, completion)
                for e in entries
            }
            order = await self.bounded.order(request, found.category, entries, costs, bound)
            candidates = [
                Candidate(
                    entry,
                    round(estimate.quality, 6),
                    reason,
                    estimate,
                    deployments=serving[entry.name],
                )
                for entry, estimate, reason in order.ranked
            ]
            embedding_model, vector = order.embedding_model, order.vector
        return Decision(
            found.category,
            found.source,
            (*candidates, *kept_fallbacks),
            tuple(skipped),
            prompt_tokens,
            passed_over,
            min_quality=bound,
            predictor_embedding_model=embedding_model,
            prompt_vector=vector,
        )

    def _sift(
        self, request: ChatRequest, chain: tuple[str, ...], fallbacks: Sequence[_Listed]
    ) -> tuple[
        list[tuple[int, ModelEntry, tuple[ModelEntry, ...]]], list[Candidate], list[Skip], str, int
    ]:
        """The chain's models the request can use (with their chain positions and the
        deployments that can take it), its usable fallbacks (as candidates, in order), the
        models skipped, the model passed over for an open breaker, and the request's estimated
        prompt tokens."""
        # A text to continue is sent as well (one token per four characters, as usage has it).
        prompt_tokens = estimate_prompt_tokens(request) + -(-len(request.prefill) // 4)
        needed = prompt_tokens + (request.output_limit or DEFAULT_COMPLETION_TOKENS)
        kept: list[tuple[int, ModelEntry, tuple[ModelEntry, ...]]] = []
        kept_fallbacks: list[Candidate] = []
        skipped: list[Skip] = []
        seen: set[str] = set()
        passed_over = ""
        listed = [_Listed(name, self.registry.get(name), "") for name in chain]
        for position, item in enumerate([*listed, *fallbacks]):
            entry = item.entry
            if entry is None:
                skipped.append(Skip(item.name, "UNKNOWN_MODEL", "not in the registry"))
                continue
            if entry.name in seen:
                continue  # a model is tried once, at its first place
            seen.add(entry.name)
            served = _filter(entry, request, needed)
            if isinstance(served, Skip):
                skipped.append(served)
                if served.reason == "BREAKER_OPEN" and not (kept or kept_fallbacks or passed_over):
                    passed_over = entry.name
            elif not item.reason:
                kept.append((position, entry, served))
            else:
                kept_fallbacks.append(Candidate(entry, 0.0, item.reason, deployments=served))
        return kept, kept_fallbacks, skipped, passed_over, prompt_tokens


@frozen
class _Listed:
    """A model of a decision's list: as named, its entry (None if unknown) and, for a
    fallback (after the chain), the reason for its place ("" for the chain's models)."""

    name: str
    entry: ModelEntry | None
    reason: str


def _filter(
    entry: ModelEntry, request: ChatRequest, needed_tokens: int
) -> Skip | tuple[ModelEntry, ...]:
    """Why the model cannot be tried for ``request``, else the deployments that can take it
    (``()`` for a model without deployments): a model is skipped only when none of its
    deployments can, for the first deployment's reason, or BREAKER_OPEN when some deployment
    could but for its open circuit (that passes)."""
    skip = _model_skip(entry, request)
    if skip is not None:
        return skip
    deployments = entry.deployments
    if not deployments:
        return _deployment_skip(entry, request, needed_tokens) or ()
    first: Skip | None = None
    usable: list[ModelEntry] | None = None
    for i, deployment in enumerate(deployments):
        skip = _deployment_skip(deployment, request, needed_tokens)
        if skip is None:
            if usable is not None:
                usable.append(deployment)
            continue
        if usable is None:
            usable = list(deployments[:i])
        if first is None or (skip.reason == "BREAKER_OPEN" and first.reason != "BREAKER_OPEN"):
            first = skip
    if usable is None:
        return deployments  # all of them: the common case allocates nothing
    if usable:
        return tuple(usable)
    assert first is not None
    return first


def _model_skip(entry: ModelEntry, request: ChatRequest) -> Skip | None:
    """What the model (every deployment alike: its config) cannot take."""
    config = entry.config
    if config.embedding:
        # Serves POST /v1/embeddings only (router_svc.routing.embed_policy).
        return Skip(
            entry.name, "MISSING_CAPABILITY", "an embedding model, not a chat model", "model"
        )
    if not entry.enabled:
        return Skip(entry.name, "DISABLED", "disabled by an operator or in config")
    if request.tools and not config.tools:
        return Skip(entry.name, "MISSING_CAPABILITY", "does not support tools")
    if request.needs_vision and not config.vision:
        return Skip(entry.name, "MISSING_CAPABILITY", "does not accept images")
    if request.needs_json and not config.json_mode:
        return Skip(
            entry.name, "MISSING_CAPABILITY", "does not support JSON output", "response_format"
        )
    return None


def _deployment_skip(entry: ModelEntry, request: ChatRequest, needed_tokens: int) -> Skip | None:
    """What one deployment cannot take: its provider's API, its window, its open circuit."""
    if refused := entry.provider.refuses(request):
        return Skip(
            entry.name,
            "MISSING_CAPABILITY",
            f"{entry.provider.kind} API cannot take {refused} as asked{_where(entry)}",
            refused,
        )
    if request.prefill and not entry.can_continue:
        return Skip(entry.name, "MISSING_CAPABILITY", f"cannot continue an answer{_where(entry)}")
    window = entry.context_window
    if window is not None and needed_tokens > window:
        return Skip(
            entry.name,
            "CONTEXT_WINDOW",
            f"needs about {needed_tokens} tokens, window is {entry.window_text}{_where(entry)}",
        )
    if not entry.breaker.would_allow():
        return Skip(entry.name, "BREAKER_OPEN", f"{entry.breaker.refusal()}{_where(entry)}")
    return None


def _where(entry: ModelEntry) -> str:
    """`` (deployment east)`` for a named deployment, else nothing (a skip's detail)."""
    return f" (deployment {entry.deployment})" if entry.deployment else ""


def request_cost(entry: ModelEntry, prompt_tokens: int, completion_tokens: int) -> float:
    """The estimated cost of a request on ``entry`` in USD: its prompt tokens at the input
    price, its output limit (else the default completion) at the output price."""
    return (
        prompt_tokens * entry.input_price_per_million
        + completion_tokens * entry.output_price_per_million
    ) / 1_000_000


def expected_cost(
    deployments: Sequence[ModelEntry], prompt_tokens: int, completion_tokens: int
) -> float:
    """:func:`request_cost` of a model whose attempts are spread over ``deployments``: each
    deployment's, averaged by weight (one deployment: its own)."""
    if len(deployments) == 1:
        return request_cost(deployments[0], prompt_tokens, completion_tokens)
    cost = weights = 0.0
    for d in deployments:
        cost += d.weight * request_cost(d, prompt_tokens, completion_tokens)
        weights += d.weight
    return cost / weights


def _expected_latency(deployments: Sequence[ModelEntry]) -> float:
    """The EWMA latency of ``deployments`` merged over the replicas sharing [state] (this
    replica's own when alone), averaged by weight; :data:`_UNKNOWN_LATENCY_S` where none is
    measured."""
    latency = weights = 0.0
    for d in deployments:
        measured = d.stats.merged_latency_s
        latency += d.weight * (measured if measured is not None else _UNKNOWN_LATENCY_S)
        weights += d.weight
    return latency / weights


def _by_score(
    request: ChatRequest,
    kept: list[tuple[int, ModelEntry, tuple[ModelEntry, ...]]],
    prompt_tokens: int,
    category: str,
    estimates: QualityEstimates | None,
) -> list[Candidate]:
    """Order by a weighted score over cost, live latency (EWMA) and quality, all in [0, 1].

    Quality is the model's estimate in ``category`` once feedback has enough scores
    (``estimates``), else its configured quality. A model with deployments counts its usable
    deployments' prices and latencies, averaged by weight (what its balanced attempts cost and
    take on average)."""
    prefs = request.preferences
    completion = request.output_limit or DEFAULT_COMPLETION_TOKENS
    costs = {e.name: expected_cost(d or (e,), prompt_tokens, completion) for _, e, d in kept}
    latencies = {e.name: _expected_latency(d or (e,)) for _, e, d in kept}
    max_cost = max(costs.values()) or 1.0
    max_latency = max(latencies.values()) or 1.0
    total = prefs.cost + prefs.latency + prefs.quality
    scored = []
    for position, entry, deployments in kept:
        cost_score = 1 - costs[entry.name] / max_cost
        latency_score = 1 - latencies[entry.name] / max_latency
        configured = entry.config.quality
        predicted = None
        if estimates is not None and prefs.quality:
            predicted = estimates.prediction(entry.name, category, configured)
        quality = predicted.quality if predicted is not None else configured
        score = (
            prefs.cost * cost_score + prefs.latency * latency_score + prefs.quality * quality
        ) / total
        shown = predicted.describe() if predicted is not None else f"{quality:.2f}"
        reason = (
            f"score {score:.3f} (cost {cost_score:.2f}, latency {latency_score:.2f}, "
            f"quality {shown})"
        )
        candidate = Candidate(entry, round(score, 6), reason, predicted, deployments=deployments)
        scored.append((-score, position, candidate))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [candidate for _, _, candidate in scored]
