"""What a virtual key may use: the Caller.allowed_models of a request, against the models
and categories of the router.

An entry is a registry model name (or alias), or ``category:<name>``: every model of that
category's chain, and ``auto`` requests classified into it. No entries: everything. A request
naming a model the key may not use fails with PERMISSION_DENIED (reason MODEL_NOT_ALLOWED,
the gateway's 403 naming the model); an ``auto`` chain keeps only the models the key may use,
and fails the same way when none is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from llmrouter.values import frozen

from ..config import CategoryConfig
from ..errors import ModelNotAllowed

__all__ = ["CATEGORY_PREFIX", "Allowance"]

CATEGORY_PREFIX = "category:"


@frozen
class Allowance:
    """The models and categories one request's key may use."""

    models: frozenset[str]
    categories: frozenset[str]
    # Models of the allowed categories' chains (as the categories are now).
    chained: frozenset[str]

    @classmethod
    def of(
        cls, entries: Sequence[str], categories: Mapping[str, CategoryConfig]
    ) -> Allowance | None:
        """The allowance of ``entries``; None when they restrict nothing (empty)."""
        if not entries:
            return None
        models = frozenset(e for e in entries if not e.startswith(CATEGORY_PREFIX))
        named = frozenset(
            e.removeprefix(CATEGORY_PREFIX) for e in entries if e.startswith(CATEGORY_PREFIX)
        )
        chained = frozenset(m for c in named if c in categories for m in categories[c].chain)
        return cls(models, named, chained)

    def model(self, *names: str) -> bool:
        """Whether the key may use the model known by any of ``names`` (name, alias)."""
        return any(n in self.models or n in self.chained for n in names)

    def chain(self, category: str, chain: tuple[str, ...]) -> tuple[str, ...]:
        """``chain`` of ``category`` as the key may use it (whole when the category is
        allowed). Raises ModelNotAllowed naming the category when nothing is left."""
        if category in self.categories:
            return chain
        kept = tuple(m for m in chain if self.model(m))
        if not kept:
            raise ModelNotAllowed(
                f"This API key may not use the models of category '{category}' (the request "
                "was routed there); ask for a model the key allows.",
                field="chat.model",
                metadata={"category": category},
            )
        return kept

    def check_model(self, requested: str, name: str) -> None:
        """Raises ModelNotAllowed naming ``requested`` unless the key may use it."""
        if not self.model(requested, name):
            raise ModelNotAllowed(
                f"This API key may not use the model '{requested}'.",
                field="chat.model",
                metadata={"model": requested},
            )
