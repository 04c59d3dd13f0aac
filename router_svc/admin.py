"""Runtime administration: model switches, breaker resets, category edits and provider base
URLs, persisted.

Changes are validated, applied to the live registry and policy, and written atomically to a
small JSON file (``state_path``) that is applied again at the next start, over the config.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .config import CategoryConfig
from .errors import AlreadyExists, InvalidRequest, NotFound
from .providers import Provider
from .registry import ModelEntry, Registry
from .routing.policy import Policy
from .routing.retry import RetryBudgets
from .urls import Resolve, Unresolvable, UrlRefused, check_url, parse_allow_list

__all__ = ["Admin"]

log = logging.getLogger(__name__)
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_MAX_KEYWORDS = 200
_MAX_KEYWORD_CHARS = 100
_MAX_CHAIN = 32


class Admin:
    """Validated, persisted operator changes over a registry and a policy."""

    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        state_path: str,
        *,
        providers: Mapping[str, Provider] | None = None,
        allowed_private_hosts: Iterable[str] = (),
        resolve: Resolve | None = None,
        budgets: RetryBudgets | None = None,
    ) -> None:
        """``budgets``: the engine's per-model retry budgets, which a breaker reset refills."""
        self._registry = registry
        self._budgets = budgets
        self._policy = policy
        self._path = Path(state_path)
        self._providers = dict(
            providers or {e.provider.name: e.provider for e in registry.entries()}
        )
        self._allowed = parse_allow_list(allowed_private_hosts)
        self._resolve = resolve
        self._enabled: dict[str, bool] = {}
        self._base_urls: dict[str, str] = {}
        self._categories_changed = False

    async def load(self) -> None:
        """Apply the persisted state; entries that no longer fit the config are dropped.

        Base URLs are held to :func:`router_svc.urls.check_url` again, resolution included
        (the state file may be old, or edited): one refused is logged and the configured URL
        stays. One whose name does not resolve now is kept, since every connection is
        vetted when it opens anyway.
        """
        try:
            data: Any = json.loads(self._path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("admin state %s unreadable (%s); starting from config", self._path, exc)
            return
        for name, enabled in dict(data.get("enabled", {})).items():
            entry = self._registry.get(name)
            if entry is None or not isinstance(enabled, bool):
                log.warning("admin state: ignoring switch for unknown model %r", name)
                continue
            entry.enabled = enabled
            self._enabled[entry.name] = enabled
        for name, url in dict(data.get("base_urls", {})).items():
            provider = self._providers.get(name)
            if provider is None or provider.kind == "simulated" or not isinstance(url, str):
                log.warning("admin state: ignoring base URL of %r (no such HTTP provider)", name)
                continue
            try:
                await check_url(url, self._allowed, resolve=self._resolve)
            except Unresolvable as exc:
                log.warning(
                    "admin state: base URL of %r kept although %s (each connection is vetted)",
                    name,
                    exc,
                )
            except UrlRefused as exc:
                log.warning(
                    "admin state: refused base URL of %r (%s); using the configured one",
                    name,
                    exc,
                )
                continue
            provider.set_base_url(url)
            self._base_urls[name] = url
        if "categories" in data:
            try:
                categories = [
                    self._validate(c, f"categories[{i}]") for i, c in enumerate(data["categories"])
                ]
            except (InvalidRequest, TypeError, KeyError) as exc:
                log.warning("admin state: categories ignored (%s)", exc)
            else:
                self._policy.set_categories(categories)
                self._categories_changed = True

    # Models ---------------------------------------------------------------------------------

    def models(self) -> list[ModelEntry]:
        """All models in registry order."""
        return self._registry.entries()

    def set_enabled(
        self, *, model: str = "", provider: str = "", enabled: bool
    ) -> list[ModelEntry]:
        """Switch one model, or all models of a provider."""
        if model:
            entry = self._registry.get(model)
            if entry is None:
                raise NotFound(f"model {model!r} does not exist", field="model")
            targets = [entry]
        elif provider:
            targets = [e for e in self._registry.entries() if e.provider.name == provider]
            if not targets:
                raise NotFound(f"provider {provider!r} has no models", field="provider")
        else:
            raise InvalidRequest("set model or provider", field="target")
        for entry in targets:
            entry.enabled = enabled
            self._enabled[entry.name] = enabled
        self._save()
        return targets

    def reset_breaker(self, model: str) -> ModelEntry:
        """Close the model's breaker and refill its retry budget: an operator who says the
        model is back wants its failures retried again, not only its first attempts made."""
        entry = self._registry.get(model)
        if entry is None:
            raise NotFound(f"model {model!r} does not exist", field="model")
        entry.breaker.reset()
        if self._budgets is not None:
            self._budgets.reset(entry.name)
        return entry

    # Providers ------------------------------------------------------------------------------

    async def set_base_url(self, provider: str, base_url: str) -> tuple[Provider, list[ModelEntry]]:
        """Point ``provider`` at ``base_url`` once it passes :func:`router_svc.urls.check_url`."""
        target = self._providers.get(provider)
        if target is None:
            raise NotFound(f"provider {provider!r} does not exist", field="provider")
        if target.kind == "simulated":
            raise InvalidRequest(
                f"provider {provider!r} is simulated and has no base URL", field="provider"
            )
        url = base_url.strip()
        try:
            await check_url(url, self._allowed, resolve=self._resolve)
        except UrlRefused as exc:
            raise InvalidRequest(f"base_url refused: {exc}", field="base_url") from None
        target.set_base_url(url)
        self._base_urls[provider] = url
        self._save()
        return target, [e for e in self._registry.entries() if e.provider is target]

    # Categories -----------------------------------------------------------------------------

    def categories(self) -> list[CategoryConfig]:
        """Current categories in matching order."""
        return self._policy.categories

    def create_category(self, raw: dict[str, Any]) -> CategoryConfig:
        """Add a category at the end."""
        category = self._validate(raw, "category")
        current = self.categories()
        if any(c.name == category.name for c in current):
            raise AlreadyExists(f"category {category.name!r} exists", field="category.name")
        self._apply([*current, category])
        return category

    def update_category(self, raw: dict[str, Any]) -> CategoryConfig:
        """Replace a category in place."""
        category = self._validate(raw, "category")
        current = self.categories()
        if not any(c.name == category.name for c in current):
            raise NotFound(f"category {category.name!r} does not exist", field="category.name")
        self._apply([category if c.name == category.name else c for c in current])
        return category

    def delete_category(self, name: str) -> None:
        """Remove a category."""
        current = self.categories()
        if not any(c.name == name for c in current):
            raise NotFound(f"category {name!r} does not exist", field="name")
        self._apply([c for c in current if c.name != name])

    def _apply(self, categories: list[CategoryConfig]) -> None:
        self._policy.set_categories(categories)
        self._categories_changed = True
        self._save()

    def _validate(self, raw: dict[str, Any], path: str) -> CategoryConfig:
        name = raw.get("name", "")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidRequest(
                "name must be 1-64 lower-case letters, digits, '_', '-' or '.'",
                field=f"{path}.name",
            )
        chain = list(raw.get("chain", ()))
        if not chain:
            raise InvalidRequest("chain must list at least one model", field=f"{path}.chain")
        if len(chain) > _MAX_CHAIN:
            raise InvalidRequest(f"chain is limited to {_MAX_CHAIN} models", field=f"{path}.chain")
        for i, model in enumerate(chain):
            if not isinstance(model, str) or self._registry.get(model) is None:
                raise InvalidRequest(f"unknown model {model!r}", field=f"{path}.chain[{i}]")
        keywords = list(raw.get("keywords", ()))
        if len(keywords) > _MAX_KEYWORDS:
            raise InvalidRequest(f"at most {_MAX_KEYWORDS} keywords", field=f"{path}.keywords")
        for i, word in enumerate(keywords):
            if not isinstance(word, str) or not word.strip() or len(word) > _MAX_KEYWORD_CHARS:
                raise InvalidRequest(
                    f"keywords must be 1-{_MAX_KEYWORD_CHARS} characters",
                    field=f"{path}.keywords[{i}]",
                )
        return CategoryConfig(name=name, chain=tuple(chain), keywords=tuple(keywords))

    def _save(self) -> None:
        data: dict[str, Any] = {"version": 1, "enabled": self._enabled}
        if self._base_urls:
            data["base_urls"] = self._base_urls
        if self._categories_changed:
            data["categories"] = [
                {"name": c.name, "chain": list(c.chain), "keywords": list(c.keywords)}
                for c in self.categories()
            ]
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".state-")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path)
