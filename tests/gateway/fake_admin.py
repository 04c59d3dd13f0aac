"""A fake RouterAdminService for gateway tests: models and categories in memory, validated with
the router's rules and answered with the router's rich errors.

It is served on the fake router's gRPC server (see conftest.py), as the real admin service
shares the router's port, so the gateway reaches both over its one router channel.
"""

from __future__ import annotations

import re
from typing import Any

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from llmrouter.access import API_KEY_ID_METADATA
from llmrouter.v1 import router_admin_service_pb2 as pb
from llmrouter.v1 import router_admin_service_pb2_grpc

from .support import Failure, rich_status

Context = grpc.aio.ServicerContext[Any, Any]

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def models() -> list[pb.ModelHealth]:
    """A healthy local model, a remote one with an open breaker, and one never tried."""
    return [
        pb.ModelHealth(
            model="sim-small",
            provider="simulated",
            enabled=True,
            breaker_state=pb.BREAKER_STATE_CLOSED,
            success_rate=0.75,
            ewma_latency=duration_pb2.Duration(nanos=12_500_000),
            last_success_time=timestamp_pb2.Timestamp(seconds=1_793_491_200),
            success_count=3,
            failure_count=1,
            local=True,
            enabled_source=pb.VALUE_SOURCE_CONFIG,
        ),
        pb.ModelHealth(
            model="gpt-4o-mini",
            provider="openai",
            enabled=True,
            breaker_state=pb.BREAKER_STATE_OPEN,
            success_rate=0.0,
            consecutive_failures=3,
            last_error_type="UPSTREAM_UNAVAILABLE",
            last_failure_time=timestamp_pb2.Timestamp(seconds=1_793_491_260),
            failure_count=3,
            breaker_retry_delay=duration_pb2.Duration(seconds=240),
            enabled_source=pb.VALUE_SOURCE_CONFIG,
        ),
        pb.ModelHealth(
            model="gpt-4o",
            provider="openai",
            enabled=False,
            breaker_state=pb.BREAKER_STATE_CLOSED,
            enabled_source=pb.VALUE_SOURCE_RUNTIME,
        ),
    ]


def categories() -> list[pb.Category]:
    """code (keywords of its own, cached) and conversation (kept out of the cache)."""
    config = pb.VALUE_SOURCE_CONFIG
    return [
        pb.Category(
            name="code",
            chain=["gpt-4o-mini", "sim-small"],
            keywords=["python"],
            source=config,
            cache=True,
        ),
        pb.Category(name="conversation", chain=["sim-small"], source=config, cache=False),
    ]


def audit_events() -> list[pb.AuditEvent]:
    """Three changes, oldest first: a switch through the gateway, then two on the router."""
    events = []
    for number, (actor, key_id, action, target, before, after) in enumerate(
        [
            ("token:ADMIN_TOKEN", "ops", "set_model_enabled", "model:gpt-4o", True, False),
            ("cert:operator", "", "update_category", "category:code", ["a"], ["b"]),
            ("token:ADMIN_TOKEN", "", "reset_breaker", "model:gpt-4o-mini", "open", "closed"),
        ],
        start=1,
    ):
        event = pb.AuditEvent(
            id=number,
            event_time=timestamp_pb2.Timestamp(seconds=1_793_491_200 + number),
            actor=actor,
            api_key_id=key_id,
            action=action,
            target=target,
            version=number,
        )
        key = target.partition(":")[2]
        event.before.update({key: before})
        event.after.update({key: after})
        events.append(event)
    return events


def alerts() -> list[pb.Alert]:
    """Two alerts, oldest first: a budget threshold delivered, an error rate failing."""
    budget = pb.Alert(
        id=1,
        alert_id="alert_1",
        create_time=timestamp_pb2.Timestamp(seconds=1_793_491_201),
        kind="budget_threshold",
        scope="team",
        subject="research",
        threshold=80.0,
        value=81.5,
        message="Budget b1 of team research reached 80 % of its hard limit",
        delivery_status=pb.ALERT_DELIVERY_STATUS_DELIVERED,
        delivery_attempts=2,
        delivered_time=timestamp_pb2.Timestamp(seconds=1_793_491_203),
    )
    budget.payload.update({"id": "alert_1", "kind": "budget_threshold"})
    errors = pb.Alert(
        id=2,
        alert_id="alert_2",
        create_time=timestamp_pb2.Timestamp(seconds=1_793_491_205),
        kind="error_rate",
        scope="key",
        subject="ops",
        threshold=0.5,
        value=0.75,
        message="15 of the last 20 requests of key ops failed",
        delivery_status=pb.ALERT_DELIVERY_STATUS_FAILED,
        delivery_attempts=5,
        delivery_error="https://hooks.example.com: HTTP 503",
    )
    errors.payload.update({"id": "alert_2", "kind": "error_rate"})
    return [budget, errors]


def providers() -> list[pb.ProviderSettings]:
    """The simulated provider and OpenAI at a base URL changed at runtime."""
    return [
        pb.ProviderSettings(
            name="simulated", kind="simulated", base_url_source=pb.VALUE_SOURCE_CONFIG, local=True
        ),
        pb.ProviderSettings(
            name="openai",
            kind="openai",
            base_url="https://proxy.example.com/v1",
            base_url_source=pb.VALUE_SOURCE_RUNTIME,
        ),
    ]


class FakeAdmin(router_admin_service_pb2_grpc.RouterAdminServiceServicer):
    """RouterAdminService over in-memory state. Set ``failure`` to fail every call."""

    def __init__(self) -> None:
        self.models = models()
        self.categories = categories()
        self.providers = providers()
        self.audit = audit_events()
        self.alerts = alerts()
        self.failure: Failure | None = None
        # Every request received, in order, and the API key id each came with ("" for none).
        self.requests: list[Any] = []
        self.api_key_ids: list[str] = []
        self.keys: dict[str, pb.ApiKey] = {}
        self.teams: dict[str, pb.Team] = {}

    async def _enter(self, request: Any, context: Context) -> None:
        self.requests.append(request)
        metadata = dict(context.invocation_metadata() or ())
        self.api_key_ids.append(str(metadata.get(API_KEY_ID_METADATA, "")))
        if self.failure is not None and self.failure.rich:
            status = rich_status(self.failure)
            await context.abort(status.code, status.details, status.trailing_metadata)
        if self.failure is not None:
            await context.abort(self.failure.code, self.failure.message)

    async def ListModelHealth(
        self, request: pb.ListModelHealthRequest, context: Context
    ) -> pb.ListModelHealthResponse:
        await self._enter(request, context)
        return pb.ListModelHealthResponse(models=self.models)

    async def SetModelEnabled(
        self, request: pb.SetModelEnabledRequest, context: Context
    ) -> pb.SetModelEnabledResponse:
        await self._enter(request, context)
        if request.WhichOneof("target") == "provider":
            targets = [m for m in self.models if m.provider == request.provider]
            if not targets:
                await _fail(
                    context, grpc.StatusCode.NOT_FOUND, "provider has no models", "provider"
                )
        else:
            targets = [m for m in self.models if m.model == request.model]
            if not targets:
                await _fail(context, grpc.StatusCode.NOT_FOUND, "model does not exist", "model")
        for model in targets:
            model.enabled = request.enabled
            model.enabled_source = pb.VALUE_SOURCE_RUNTIME
        return pb.SetModelEnabledResponse(models=targets)

    async def ResetBreaker(
        self, request: pb.ResetBreakerRequest, context: Context
    ) -> pb.ResetBreakerResponse:
        await self._enter(request, context)
        for model in self.models:
            if model.model == request.model:
                model.breaker_state = pb.BREAKER_STATE_CLOSED
                model.consecutive_failures = 0
                model.ClearField("breaker_retry_delay")
                return pb.ResetBreakerResponse(model=model)
        await _fail(context, grpc.StatusCode.NOT_FOUND, "model does not exist", "model")

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: Context
    ) -> pb.ListCategoriesResponse:
        await self._enter(request, context)
        return pb.ListCategoriesResponse(categories=self.categories, classification_mode="keywords")

    async def CreateCategory(
        self, request: pb.CreateCategoryRequest, context: Context
    ) -> pb.CreateCategoryResponse:
        await self._enter(request, context)
        await self._validate(request.category, context)
        if any(c.name == request.category.name for c in self.categories):
            await _fail(context, grpc.StatusCode.ALREADY_EXISTS, "exists", "category.name")
        stored = _runtime(request.category)
        self.categories.append(stored)
        return pb.CreateCategoryResponse(category=stored)

    async def UpdateCategory(
        self, request: pb.UpdateCategoryRequest, context: Context
    ) -> pb.UpdateCategoryResponse:
        await self._enter(request, context)
        await self._validate(request.category, context)
        for i, category in enumerate(self.categories):
            if category.name == request.category.name:
                self.categories[i] = _runtime(request.category)
                return pb.UpdateCategoryResponse(category=self.categories[i])
        await _fail(context, grpc.StatusCode.NOT_FOUND, "does not exist", "category.name")

    async def DeleteCategory(
        self, request: pb.DeleteCategoryRequest, context: Context
    ) -> pb.DeleteCategoryResponse:
        await self._enter(request, context)
        for i, category in enumerate(self.categories):
            if category.name == request.name:
                del self.categories[i]
                return pb.DeleteCategoryResponse()
        await _fail(
            context, grpc.StatusCode.NOT_FOUND, f"category {request.name!r} not found", "name"
        )

    async def ListProviders(
        self, request: pb.ListProvidersRequest, context: Context
    ) -> pb.ListProvidersResponse:
        await self._enter(request, context)
        return pb.ListProvidersResponse(providers=self.providers)

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: Context
    ) -> pb.ListAuditEventsResponse:
        """Newest first, paged as the router pages: the token is the last id given."""
        await self._enter(request, context)
        before = int(request.page_token) if request.page_token else None
        older = [e for e in reversed(self.audit) if before is None or e.id < before]
        page = older[: request.page_size or 100]
        more = len(older) > len(page)
        return pb.ListAuditEventsResponse(
            events=page, next_page_token=str(page[-1].id) if more else ""
        )

    async def ListAlerts(
        self, request: pb.ListAlertsRequest, context: Context
    ) -> pb.ListAlertsResponse:
        """Newest first, paged as the router pages: the token is the last id given."""
        await self._enter(request, context)
        before = int(request.page_token) if request.page_token else None
        older = [a for a in reversed(self.alerts) if before is None or a.id < before]
        page = older[: request.page_size or 100]
        more = len(older) > len(page)
        return pb.ListAlertsResponse(alerts=page, next_page_token=str(page[-1].id) if more else "")

    # Virtual keys: kept as given (the router's rules are the router's tests).

    async def ListApiKeyDigests(
        self, request: pb.ListApiKeyDigestsRequest, context: Context
    ) -> pb.ListApiKeyDigestsResponse:
        """No virtual keys (not recorded in ``requests``: gateways ask four times a second)."""
        return pb.ListApiKeyDigestsResponse(version=0, unchanged=True)

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Context
    ) -> pb.CreateApiKeyResponse:
        await self._enter(request, context)
        key = pb.ApiKey()
        key.CopyFrom(request.api_key)
        key.id = f"vk_{len(self.keys) + 1}"
        key.create_time.seconds = 1_793_491_200
        self.keys[key.id] = key
        return pb.CreateApiKeyResponse(api_key=key, secret=f"sk-llmr-fake{len(self.keys)}")

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Context
    ) -> pb.ListApiKeysResponse:
        await self._enter(request, context)
        return pb.ListApiKeysResponse(api_keys=list(self.keys.values()))

    async def _key(self, key_id: str, context: Context) -> pb.ApiKey:
        if key_id not in self.keys:
            await _fail(
                context, grpc.StatusCode.NOT_FOUND, f"API key {key_id!r} does not exist", "id"
            )
        return self.keys[key_id]

    async def GetApiKey(
        self, request: pb.GetApiKeyRequest, context: Context
    ) -> pb.GetApiKeyResponse:
        await self._enter(request, context)
        return pb.GetApiKeyResponse(api_key=await self._key(request.id, context))

    async def UpdateApiKey(
        self, request: pb.UpdateApiKeyRequest, context: Context
    ) -> pb.UpdateApiKeyResponse:
        await self._enter(request, context)
        key = await self._key(request.api_key.id, context)
        request.update_mask.MergeMessage(request.api_key, key, replace_repeated_field=True)
        return pb.UpdateApiKeyResponse(api_key=key)

    async def RotateApiKey(
        self, request: pb.RotateApiKeyRequest, context: Context
    ) -> pb.RotateApiKeyResponse:
        await self._enter(request, context)
        key = await self._key(request.id, context)
        key.rotate_time.seconds = 1_793_491_300
        return pb.RotateApiKeyResponse(api_key=key, secret="sk-llmr-rotated")

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Context
    ) -> pb.RevokeApiKeyResponse:
        await self._enter(request, context)
        key = await self._key(request.id, context)
        key.revoke_time.seconds = 1_793_491_400
        return pb.RevokeApiKeyResponse(api_key=key)

    async def CreateTeam(
        self, request: pb.CreateTeamRequest, context: Context
    ) -> pb.CreateTeamResponse:
        await self._enter(request, context)
        team = pb.Team()
        team.CopyFrom(request.team)
        team.id = f"team_{len(self.teams) + 1}"
        self.teams[team.id] = team
        return pb.CreateTeamResponse(team=team)

    async def ListTeams(
        self, request: pb.ListTeamsRequest, context: Context
    ) -> pb.ListTeamsResponse:
        await self._enter(request, context)
        return pb.ListTeamsResponse(teams=list(self.teams.values()))

    async def UpdateTeam(
        self, request: pb.UpdateTeamRequest, context: Context
    ) -> pb.UpdateTeamResponse:
        await self._enter(request, context)
        if request.team.id not in self.teams:
            await _fail(context, grpc.StatusCode.NOT_FOUND, "no such team", "team.id")
        team = self.teams[request.team.id]
        request.update_mask.MergeMessage(request.team, team, replace_repeated_field=True)
        return pb.UpdateTeamResponse(team=team)

    async def _validate(self, category: pb.Category, context: Context) -> None:
        """The router's rules (router_svc.admin), with its messages and field names."""
        invalid = grpc.StatusCode.INVALID_ARGUMENT
        if not _NAME.fullmatch(category.name):
            await _fail(context, invalid, "name must be 1-64 lower-case letters", "category.name")
        if not 1 <= len(category.chain) <= 32:
            await _fail(context, invalid, "chain must list 1-32 models", "category.chain")
        known = {m.model for m in self.models}
        for i, name in enumerate(category.chain):
            if name not in known:
                await _fail(context, invalid, f"unknown model {name!r}", f"category.chain[{i}]")
        if len(category.keywords) > 200:
            await _fail(context, invalid, "at most 200 keywords", "category.keywords")
        for i, word in enumerate(category.keywords):
            if not word.strip() or len(word) > 100:
                await _fail(
                    context, invalid, "keywords must be 1-100 characters", f"category.keywords[{i}]"
                )

    async def ListQualityEstimates(
        self, request: pb.ListQualityEstimatesRequest, context: Context
    ) -> pb.ListQualityEstimatesResponse:
        """One estimate in use (sim-large in code, 40 scores) and one still on its prior."""
        await self._enter(request, context)
        return pb.ListQualityEstimatesResponse(
            min_samples=20,
            estimates=[
                pb.QualityEstimate(
                    model="sim-large",
                    category="code",
                    prior=0.6,
                    prior_weight=10,
                    samples=40,
                    user_samples=30,
                    judge_samples=10,
                    observed_mean=0.8,
                    estimate=0.76,
                    lower=0.66,
                    upper=0.85,
                    in_use=True,
                ),
                pb.QualityEstimate(
                    model="sim-small",
                    category="code",
                    prior=0.3,
                    prior_weight=10,
                    samples=3,
                    user_samples=3,
                    observed_mean=1.0,
                    estimate=0.46,
                    lower=0.26,
                    upper=0.67,
                    in_use=False,
                ),
            ],
        )

    async def ListBudgets(
        self, request: pb.ListBudgetsRequest, context: Context
    ) -> pb.ListBudgetsResponse:
        """One team budget with a month's period."""
        await self._enter(request, context)
        budget = pb.BudgetStatus(
            id="search-monthly",
            scope="team",
            subject="search",
            period="month",
            spent_usd=12.5,
            reserved_usd=0.25,
            remaining_usd=87.25,
            hard_usd=100.0,
            soft_usd=80.0,
        )
        budget.period_start_time.FromSeconds(1_796_083_200)
        budget.period_end_time.FromSeconds(1_798_761_600)
        return pb.ListBudgetsResponse(budgets=[budget])

    async def RunEvaluation(
        self, request: pb.RunEvaluationRequest, context: Context
    ) -> pb.RunEvaluationResponse:
        """A run that graded what it was allowed to of five pending samples, one failing."""
        await self._enter(request, context)
        graded = 4 if request.limit == 0 else min(request.limit, 4)
        return pb.RunEvaluationResponse(
            graded_count=graded,
            failed_count=1,
            pending_count=5 - graded,
            judge_cost_usd=0.0042,
        )


def _runtime(category: pb.Category) -> pb.Category:
    """A copy of ``category`` as the router stores it: a runtime value, cached (the router's
    default for a category the config file does not name)."""
    stored = pb.Category()
    stored.CopyFrom(category)
    stored.source = pb.VALUE_SOURCE_RUNTIME
    stored.cache = True
    return stored


async def _fail(context: Context, code: grpc.StatusCode, message: str, field: str) -> Any:
    status = rich_status(Failure(code, message, reason=code.name, field=field))
    await context.abort(status.code, status.details, status.trailing_metadata)
