"""Building routing pieces from config: default categories and the classifier model call."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..chat import ChatRequest, Message
from ..config import CategoryConfig, RouterConfig
from ..providers.call import ProviderCall
from ..registry import Registry
from .balance import choose
from .classify import AskModel

__all__ = ["BUILTIN_CATEGORIES", "ask_model", "categories_of"]

BUILTIN_CATEGORIES = ("tools", "code", "reasoning", "conversation")
# The classifier answers with one word; a few tokens are plenty.
_CLASSIFIER_MAX_TOKENS = 8


def categories_of(config: RouterConfig) -> tuple[CategoryConfig, ...]:
    """Configured categories, or the built-in ones over the default chain."""
    if config.categories:
        return config.categories
    return tuple(CategoryConfig(name=n, chain=config.default_chain) for n in BUILTIN_CATEGORIES)


def ask_model(registry: Registry, model: str) -> AskModel:
    """A classifier call against registry model ``model`` (looked up on each call)."""

    async def ask(text: str, choices: Sequence[str]) -> str:
        entry = registry.get(model)
        if entry is None or not entry.enabled:
            raise LookupError(f"classifier model {model!r} is not available")
        prompt = (
            "Classify the user's request into exactly one of these categories: "
            f"{', '.join(choices)}. Answer with the category name only."
        )
        request = ChatRequest(
            model=model,
            messages=(Message("system", prompt), Message("user", text)),
            temperature=0.0,
            max_tokens=_CLASSIFIER_MAX_TOKENS,
        )
        if len(entry.deployments) > 1:  # spread like the model's own attempts
            usable = [True] * len(entry.deployments)
            entry = entry.deployments[choose(entry.deployments, usable, random.random)]
        completion = await entry.provider.complete(ProviderCall(entry.upstream_model, request, 5.0))
        return completion.content

    return ask
