"""Runtime administration: model switches, breaker resets, category edits and provider base
URLs, as overlays on the config file kept in the admin store.

A change is validated here, written to the store (:mod:`router_svc.admin_store`: one
transaction with its audit event), then every replica applies the store's overlays over its
config: this one at once, the others when told (:mod:`router_svc.admin_sync`) or at their next
resync. An overlay replaces only the key it sets: a model, a provider's base URL or a category
by name; everything else, including categories added to the config file later, comes from the
config file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .admin_store import (
    Actor,
    AdminStore,
    AdminStoreError,
    ApiKeyRecord,
    Change,
    Snapshot,
    TeamRecord,
)
from .config import CategoryConfig
from .errors import AdminStoreUnavailable, AlreadyExists, InvalidRequest, NotFound
from .providers import Provider
from .registry import ModelEntry, Registry
from .routing.policy import Policy
from .routing.retry import RetryBudgets
from .urls import Resolve, Unresolvable, UrlRefused, check_url, parse_allow_list

__all__ = ["CONFIG", "MODEL_ENABLED", "PROVIDER_BASE_URL", "RUNTIME", "SYSTEM", "Admin"]

log = logging.getLogger(__name__)
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_MAX_KEYWORDS = 200
_MAX_KEYWORD_CHARS = 100
_MAX_CHAIN = 32

# Overlay kinds (the store's ``kind`` column).
MODEL_ENABLED = "model_enabled"
PROVIDER_BASE_URL = "provider_base_url"
CATEGORY = "category"
# Where a value comes from.
CONFIG = "config"
RUNTIME = "runtime"
#: The actor of changes the router makes itself (importing an old state file).
SYSTEM = Actor("router")

Announce = Callable[[int], Awaitable[None]]


class Admin:
    """Validated operator changes over a registry and a policy, kept as overlays in a store."""

    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        store: AdminStore,
        *,
        providers: Mapping[str, Provider] | None = None,
        allowed_private_hosts: Iterable[str] = (),
        resolve: Resolve | None = None,
        budgets: RetryBudgets | None = None,
    ) -> None:
        """``budgets``: the engine's per-model retry budgets, which a breaker reset refills.

        The registry, the policy's categories and the providers' base URLs as they are now
        are the config file's values, which overlays replace key by key.
        """
        self._registry = registry
        self._budgets = budgets
        self._policy = policy
        self._store = store
        self._providers = dict(
            providers or {e.provider.name: e.provider for e in registry.deployments()}
        )
        self._allowed = parse_allow_list(allowed_private_hosts)
        self._resolve = resolve
        self._config_categories = list(policy.categories)
        self._config_urls = {n: p.config.base_url for n, p in self._providers.items()}
        self._runtime: set[tuple[str, str]] = set()
        self._version = -1
        #: Virtual keys and teams as of :attr:`version` (:mod:`router_svc.api_keys`).
        self.api_keys: tuple[ApiKeyRecord, ...] = ()
        self.teams: tuple[TeamRecord, ...] = ()
        self._lock = asyncio.Lock()
        #: Called with the new version after each change this replica made (set by the sync).
        self.announce: Announce | None = None

    @property
    def store(self) -> AdminStore:
        """Where the overlays and the audit log are kept."""
        return self._store

    @property
    def version(self) -> int:
        """The store version this replica applied (-1 before :meth:`load`)."""
        return self._version

    async def load(self, legacy_state_path: str = "") -> None:
        """Apply the store's overlays; first import ``legacy_state_path`` (the JSON file of
        earlier releases) into an empty store.

        Raises :class:`AdminStoreError` when the store cannot be read.
        """
        if legacy_state_path and await self._store.version() == 0:
            await self._import(Path(legacy_state_path))
        await self.refresh(force=True)

    async def refresh(self, *, force: bool = False) -> bool:
        """Apply the store's overlays when its version moved (always with ``force``); True
        when it did. Raises :class:`AdminStoreError` when the store cannot be read."""
        async with self._lock:
            if not force and await self._store.version() == self._version:
                return False
            snapshot = await self._store.snapshot()
            await self._apply(snapshot)
            self.api_keys, self.teams = snapshot.api_keys, snapshot.teams
            self._version = snapshot.version
            return True

    async def committed(self, version: int) -> None:
        """After a change written to the store by another module (virtual keys): apply the
        store here and tell the other replicas that it reached ``version``."""
        try:
            await self.refresh()
        except AdminStoreError as exc:
            raise AdminStoreUnavailable(str(exc)) from exc
        if self.announce is not None:
            await self.announce(version)

    def has_model(self, name: str) -> bool:
        """Whether ``name`` is a registry model (or alias)."""
        return self._registry.get(name) is not None

    # Sources ---------------------------------------------------------------------------------

    def enabled_source(self, model: str) -> str:
        """``config`` or ``runtime``: where a model's switch comes from."""
        return RUNTIME if (MODEL_ENABLED, model) in self._runtime else CONFIG

    def base_url_source(self, provider: str) -> str:
        """``config`` or ``runtime``: where a provider's base URL comes from."""
        return RUNTIME if (PROVIDER_BASE_URL, provider) in self._runtime else CONFIG

    def category_source(self, name: str) -> str:
        """``config`` or ``runtime``: where a category comes from."""
        return RUNTIME if (CATEGORY, name) in self._runtime else CONFIG

    # Models ---------------------------------------------------------------------------------

    def models(self) -> list[ModelEntry]:
        """All models in registry order."""
        return self._registry.entries()

    async def set_enabled(
        self, *, model: str = "", provider: str = "", enabled: bool, actor: Actor = SYSTEM
    ) -> list[ModelEntry]:
        """Switch one model, or all models of a provider."""
        if model:
            entry = self._registry.get(model)
            if entry is None:
                raise NotFound(f"model {model!r} does not exist", field="model")
            targets = [entry]
            target = f"model:{entry.name}"
        elif provider:
            # A model with a deployment on the provider (README, "Deployments"): the switch is
            # the model's, so its other deployments stop too.
            targets = [
                e
                for e in self._registry.entries()
                if any(d.provider.name == provider for d in e.deployments or (e,))
            ]
            if not targets:
                raise NotFound(f"provider {provider!r} has no models", field="provider")
            target = f"provider:{provider}"
        else:
            raise InvalidRequest("set model or provider", field="target")
        changes = [Change(MODEL_ENABLED, e.name, enabled) for e in targets]
        await self._change("set_model_enabled", target, actor, changes)
        return targets

    async def reset_breaker(self, model: str, actor: Actor = SYSTEM) -> ModelEntry:
        """Close the model's breaker and refill its retry budget: an operator who says the
        model is back wants its failures retried again, not only its first attempts made.
        Recorded in the audit log first (no record, no reset)."""
        entry = self._registry.get(model)
        if entry is None:
            raise NotFound(f"model {model!r} does not exist", field="model")
        # Every deployment's breaker (README, "Deployments"), each by its key.
        deployments = entry.deployments or (entry,)
        before = {d.key: d.breaker.state.name.lower() for d in deployments}
        after = dict.fromkeys(before, "closed")
        try:
            await self._store.note("reset_breaker", f"model:{entry.name}", actor, before, after)
        except AdminStoreError as exc:
            raise AdminStoreUnavailable(str(exc)) from exc
        for deployment in deployments:
            deployment.breaker.reset()
            if self._budgets is not None:
                self._budgets.reset(deployment.key)
        return entry

    # Providers ------------------------------------------------------------------------------

    def providers(self) -> list[Provider]:
        """Every provider, in config order."""
        return list(self._providers.values())

    async def set_base_url(
        self, provider: str, base_url: str, actor: Actor = SYSTEM
    ) -> tuple[Provider, list[ModelEntry]]:
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
        await self._change(
            "set_provider_base_url",
            f"provider:{provider}",
            actor,
            [Change(PROVIDER_BASE_URL, provider, url)],
        )
        return target, [
            e
            for e in self._registry.entries()
            if any(d.provider is target for d in e.deployments or (e,))
        ]

    # Categories -----------------------------------------------------------------------------

    def categories(self) -> list[CategoryConfig]:
        """Current categories in matching order."""
        return self._policy.categories

    async def create_category(self, raw: dict[str, Any], actor: Actor = SYSTEM) -> CategoryConfig:
        """Add a category at the end (its ``cache`` flag: the config file's category of that
        name, if one was deleted, else true)."""
        category = self._validate(raw, "category")
        if any(c.name == category.name for c in self.categories()):
            raise AlreadyExists(f"category {category.name!r} exists", field="category.name")
        await self._change(
            "create_category",
            f"category:{category.name}",
            actor,
            [Change(CATEGORY, category.name, _category_value(category))],
        )
        return category

    async def update_category(self, raw: dict[str, Any], actor: Actor = SYSTEM) -> CategoryConfig:
        """Replace a category's chain and keywords; its ``cache`` flag stays."""
        category = self._validate(raw, "category")
        if not any(c.name == category.name for c in self.categories()):
            raise NotFound(f"category {category.name!r} does not exist", field="category.name")
        await self._change(
            "update_category",
            f"category:{category.name}",
            actor,
            [Change(CATEGORY, category.name, _category_value(category))],
        )
        return category

    async def delete_category(self, name: str, actor: Actor = SYSTEM) -> None:
        """Remove a category: a config one is hidden by an overlay, a runtime one's overlay
        goes (so a category of that name added to the config file later shows)."""
        if not any(c.name == name for c in self.categories()):
            raise NotFound(f"category {name!r} does not exist", field="name")
        in_config = any(c.name == name for c in self._config_categories)
        change = Change(CATEGORY, name, None) if in_config else Change(CATEGORY, name, remove=True)
        await self._change("delete_category", f"category:{name}", actor, [change])

    # Internals ------------------------------------------------------------------------------

    async def _change(self, action: str, target: str, actor: Actor, changes: list[Change]) -> None:
        """Write ``changes`` with their audit event, apply the store here, tell the others."""
        try:
            written = await self._store.change(action, target, actor, changes, self._baseline)
            await self.refresh()
        except AdminStoreError as exc:
            raise AdminStoreUnavailable(str(exc)) from exc
        if self.announce is not None:
            await self.announce(written.version)

    def _baseline(self, kind: str, key: str) -> Any:
        """The config file's value of ``kind``/``key`` as JSON data (None: not in it)."""
        if kind == MODEL_ENABLED:
            entry = self._registry.get(key)
            return entry.config.enabled if entry is not None else None
        if kind == PROVIDER_BASE_URL:
            return self._config_urls.get(key)
        for category in self._config_categories:
            if category.name == key:
                return _category_value(category)
        return None

    async def _apply(self, snapshot: Snapshot) -> None:
        """Config values with the snapshot's overlays over them, key by key."""
        runtime: set[tuple[str, str]] = set()
        enabled: dict[str, bool] = {}
        urls: dict[str, str] = {}
        categories: list[tuple[str, Any]] = []
        for overlay in snapshot.overlays:
            if overlay.kind == MODEL_ENABLED and isinstance(overlay.value, bool):
                if self._registry.get(overlay.key) is None:
                    log.warning("admin store: switch of unknown model %r ignored", overlay.key)
                    continue
                enabled[overlay.key] = overlay.value
            elif overlay.kind == PROVIDER_BASE_URL and isinstance(overlay.value, str):
                urls[overlay.key] = overlay.value
            elif overlay.kind == CATEGORY:
                categories.append((overlay.key, overlay.value))
            else:
                log.warning(
                    "admin store: unreadable %s overlay %r ignored", overlay.kind, overlay.key
                )
        for entry in self._registry.entries():
            entry.enabled = enabled.get(entry.name, entry.config.enabled)
            if entry.name in enabled:
                runtime.add((MODEL_ENABLED, entry.name))
        for name, provider in self._providers.items():
            if provider.kind == "simulated":
                if name in urls:
                    log.warning("admin store: base URL of simulated provider %r ignored", name)
                continue
            wanted = urls.get(name)
            if wanted is not None and await self._url_usable(name, wanted):
                runtime.add((PROVIDER_BASE_URL, name))
            else:
                wanted = self._config_urls[name]
            if provider.config.base_url != wanted:
                provider.set_base_url(wanted)
        for name in set(urls) - set(self._providers):
            log.warning("admin store: base URL of unknown provider %r ignored", name)
        merged = self._merge_categories(categories, runtime)
        if merged != self._policy.categories:
            self._policy.set_categories(merged)
        self._runtime = runtime

    async def _url_usable(self, name: str, url: str) -> bool:
        """Held to :func:`check_url` again (the store may be old, or edited by hand): a URL
        refused is logged and the configured one stays; one whose name does not resolve now
        is kept, since every connection is vetted when it opens anyway."""
        provider = self._providers[name]
        if provider.config.base_url == url:
            return True  # checked when it was applied
        try:
            await check_url(url, self._allowed, resolve=self._resolve)
        except Unresolvable as exc:
            log.warning(
                "admin store: base URL of %r kept although %s (each connection is vetted)",
                name,
                exc,
            )
        except UrlRefused as exc:
            log.warning(
                "admin store: refused base URL of %r (%s); using the configured one", name, exc
            )
            return False
        return True

    def _merge_categories(
        self, overlays: list[tuple[str, Any]], runtime: set[tuple[str, str]]
    ) -> list[CategoryConfig]:
        """Config categories in their order, each replaced or hidden by its overlay, then the
        runtime-only ones in the order they were created. An overlay that no longer fits the
        config (a model gone from the registry) is logged and the config value stays."""
        merged: dict[str, CategoryConfig | None] = {c.name: c for c in self._config_categories}
        for name, value in overlays:
            if value is None:
                if name in merged:
                    merged[name] = None
                    runtime.add((CATEGORY, name))
                continue
            try:
                category = self._validate({"name": name, **value}, f"category {name!r}")
            except (InvalidRequest, TypeError) as exc:
                log.warning("admin store: category %r ignored (%s)", name, exc)
                continue
            merged[name] = category
            runtime.add((CATEGORY, name))
        return [c for c in merged.values() if c is not None]

    async def _import(self, path: Path) -> None:
        """Turn the JSON state file of earlier releases into overlays (once: the store's
        version is no longer 0 afterwards)."""
        try:
            data: Any = json.loads(await asyncio.to_thread(path.read_text))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("admin state %s unreadable (%s); not imported", path, exc)
            return
        changes: list[Change] = []
        for name, enabled in dict(data.get("enabled", {})).items():
            entry = self._registry.get(name)
            if entry is not None and isinstance(enabled, bool):
                changes.append(Change(MODEL_ENABLED, entry.name, enabled))
        for name, url in dict(data.get("base_urls", {})).items():
            if name in self._providers and isinstance(url, str):
                changes.append(Change(PROVIDER_BASE_URL, name, url))
        if isinstance(data.get("categories"), list):
            wanted: dict[str, Any] = {}
            for item in data["categories"]:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    wanted[item["name"]] = {
                        "chain": list(item.get("chain", ())),
                        "keywords": list(item.get("keywords", ())),
                        "cache": self._cache_flag(item["name"]),
                        # The state file predates quality bounds: the config file's stays.
                        "min_quality": next(
                            (
                                c.min_quality
                                for c in self._config_categories
                                if c.name == item["name"]
                            ),
                            None,
                        ),
                    }
            for name, value in wanted.items():
                if value != self._baseline(CATEGORY, name):
                    changes.append(Change(CATEGORY, name, value))
            for category in self._config_categories:
                if category.name not in wanted:
                    changes.append(Change(CATEGORY, category.name, None))
        if changes:
            await self._store.change(
                "import_state_file", f"file:{path}", SYSTEM, changes, self._baseline
            )
            log.info("admin state %s imported into the admin store", path)

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
        # The admin API does not carry the flag: an edit keeps the category's own (an overlay
        # stores it, so every replica and a restart see the same).
        cache = raw.get("cache")
        if not isinstance(cache, bool):
            cache = self._cache_flag(name)
        # Set as given, like the chain: absent or None is no bound.
        bound = raw.get("min_quality")
        if bound is not None and (
            isinstance(bound, bool) or not isinstance(bound, int | float) or not 0 <= bound <= 1
        ):
            raise InvalidRequest(
                "min_quality must be a number in [0, 1]", field=f"{path}.min_quality"
            )
        return CategoryConfig(
            name=name,
            chain=tuple(chain),
            keywords=tuple(keywords),
            cache=cache,
            min_quality=float(bound) if bound is not None else None,
        )

    def _cache_flag(self, name: str) -> bool:
        """The ``cache`` flag of category ``name`` as it is now, else the config file's, else
        true (the default of ``[[router.categories]]``)."""
        for category in (*self._policy.categories, *self._config_categories):
            if category.name == name:
                return category.cache
        return True


def _category_value(category: CategoryConfig) -> dict[str, Any]:
    return {
        "chain": list(category.chain),
        "keywords": list(category.keywords),
        "cache": category.cache,
        "min_quality": category.min_quality,
    }
