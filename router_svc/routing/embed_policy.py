"""Which embedding models serve an embedding request, in order (the embeddings' ``Policy``).

Embedding models (``embedding = true``) and chat models never serve each other's requests:
the chat policy passes embedding models over (``MISSING_CAPABILITY``), and this one chat
models. The chain of a request:

* a named embedding model, then the request's ``fallback_models`` (else the model's configured
  ``fallbacks``); a named chat model is INVALID_ARGUMENT naming ``embed.model``;
* a category named as the model (or pinned by ``routing.category`` with model "auto"): its
  chain's embedding models;
* "auto": the category ``embeddings`` when one is configured, else every embedding model in
  config order (category ``embeddings``).

Preferences are not applied: the chain is walked in order, as the operator wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..embeddings import EmbedRequest, estimate_tokens
from ..errors import InvalidRequest, ModelNotAllowed, ModelNotFound, RouterError
from ..registry import ModelEntry, Registry
from .allowed import Allowance
from .policy import AUTO, Candidate, Decision, Policy, Skip
from .schedule import refusal

__all__ = ["EMBEDDINGS_CATEGORY", "decide_embeddings", "embed_refusal"]

_T = TypeVar("_T")

# The category of "auto" embedding requests, and the one whose chain they take when configured.
EMBEDDINGS_CATEGORY = "embeddings"


def decide_embeddings(policy: Policy, request: EmbedRequest) -> Decision:
    """The decision for ``request`` (no upstream call). Raises ModelNotFound for an unknown
    model, InvalidRequest for a chat model named or an unknown fallback."""
    registry = policy.registry
    # Policy.categories: the runtime edits included.
    categories = {c.name: c for c in policy.categories}
    fallbacks: list[tuple[str, str]] = []  # (name, reason)
    named = registry.get(request.model) if request.model != AUTO else None
    if named is not None:
        if not named.config.embedding:
            raise InvalidRequest(
                f"model {request.model!r} is a chat model; embeddings need an embedding model",
                field="embed.model",
            )
        category, source = request.category or "explicit", "explicit_model"
        chain: tuple[str, ...] = (named.name,)
        if not request.fallback_models:
            configured = named.config.fallbacks
            fallbacks = [(n, f"fallback {i + 1} (config)") for i, n in enumerate(configured)]
    elif request.model != AUTO:
        found = categories.get(request.model)
        if found is None:
            raise ModelNotFound(f"model {request.model!r} does not exist", field="embed.model")
        category, source, chain = found.name, "model", found.chain
    else:
        pinned = categories.get(request.category) if request.category else None
        chosen = pinned or categories.get(EMBEDDINGS_CATEGORY)
        if chosen is not None:
            category, source, chain = chosen.name, "pinned" if pinned else "default", chosen.chain
        else:
            category, source = request.category or EMBEDDINGS_CATEGORY, "default"
            chain = _every_embedding_model(registry)
    for i, name in enumerate(request.fallback_models):
        if registry.get(name) is None:
            raise InvalidRequest(
                f"fallback model {name!r} does not exist", field=f"embed.fallback_models[{i}]"
            )
        fallbacks.append((name, f"fallback {i + 1} (request)"))
    allow = Allowance.of(request.allowed_models, categories)
    if allow is not None:
        # As chat (router_svc.routing.allowed): a named model or fallback the key may not use
        # is refused naming it; a category's chain keeps only the models the key may use.
        if named is not None:
            _as_embed(allow.check_model, request.model, named.name)
            chain = (named.name,)
        else:
            chain = _as_embed(allow.chain, category, chain)
        kept = []
        for i, (name, reason) in enumerate(fallbacks):
            entry = registry.get(name)
            if allow.model(name, entry.name if entry is not None else name):
                kept.append((name, reason))
            elif request.fallback_models:
                raise ModelNotAllowed(
                    f"This API key may not use the model '{name}'.",
                    field=f"embed.fallback_models[{i}]",
                    metadata={"model": name},
                )
        fallbacks = kept
    return _decide(registry, request, category, source, chain, fallbacks)


def _as_embed(check: Callable[..., _T], *args: object) -> _T:
    """``check(*args)``, its ModelNotAllowed naming ``embed.model`` (not ``chat.model``)."""
    try:
        return check(*args)
    except ModelNotAllowed as exc:
        exc.field = "embed.model"
        raise


def embed_refusal(decision: Decision, registry: Registry) -> RouterError:
    """Why a decision without candidates cannot be served (the chat rule of
    :func:`.schedule.refusal`), a field named under ``embed.``."""
    error = refusal(decision, registry)
    if error.field.startswith("chat."):
        error.field = "embed." + error.field.removeprefix("chat.")
    return error


def _every_embedding_model(registry: Registry) -> tuple[str, ...]:
    return tuple(e.name for e in registry.entries() if e.config.embedding)


def _decide(
    registry: Registry,
    request: EmbedRequest,
    category: str,
    source: str,
    chain: tuple[str, ...],
    fallbacks: list[tuple[str, str]],
) -> Decision:
    candidates: list[Candidate] = []
    skipped: list[Skip] = []
    seen: set[str] = set()
    passed_over = ""
    listed = [(name, "") for name in chain]
    for position, (name, reason) in enumerate([*listed, *fallbacks]):
        entry = registry.get(name)
        if entry is None:
            skipped.append(Skip(name, "UNKNOWN_MODEL", "not in the registry"))
            continue
        if entry.name in seen:
            continue  # tried once, at its first place
        seen.add(entry.name)
        skip = _filter(entry, request)
        if skip is not None:
            skipped.append(skip)
            if skip.reason == "BREAKER_OPEN" and not (candidates or passed_over):
                passed_over = entry.name
            continue
        candidates.append(
            Candidate(
                entry,
                0.0,
                reason or f"chain position {position + 1}",
                deployments=entry.deployments,
            )
        )
    return Decision(
        category,
        source,
        tuple(candidates),
        tuple(skipped),
        estimate_tokens(request.inputs),
        passed_over,
    )


def _filter(entry: ModelEntry, request: EmbedRequest) -> Skip | None:
    config = entry.config
    if not config.embedding:
        return Skip(entry.name, "MISSING_CAPABILITY", "a chat model, not an embedding model")
    if not entry.enabled:
        return Skip(entry.name, "DISABLED", "disabled by an operator or in config")
    asked = request.dimensions
    if asked is not None and config.dimensions and asked > config.dimensions:
        return Skip(
            entry.name,
            "MISSING_CAPABILITY",
            f"returns {config.dimensions}-dimension vectors, {asked} asked for",
            "dimensions",
        )
    deployments = entry.deployments or (entry,)
    if not any(d.breaker.would_allow() for d in deployments):
        # No deployment's breaker lets a call out (one refusing only moves the traffic): say
        # why in each breaker's actual state (open, or half-open with its probe in flight).
        if len(deployments) == 1:
            return Skip(entry.name, "BREAKER_OPEN", deployments[0].breaker.refusal())
        refusals = ", ".join(f"{d.deployment} ({d.breaker.refusal()})" for d in deployments)
        return Skip(entry.name, "BREAKER_OPEN", f"no deployment can take it: {refusals}")
    return None
