"""``llmrouter.v1.RouterAdminService`` over :class:`router_svc.admin.Admin`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from llmrouter.access import API_KEY_ID_METADATA, certificate_names
from llmrouter.v1 import router_admin_service_pb2 as pb
from llmrouter.v1 import router_admin_service_pb2_grpc

from .admin import Admin
from .admin_store import MAX_ALERT_PAGE, MAX_AUDIT_PAGE, Actor, AdminStoreError
from .api_keys import ApiKeys
from .budgets import Budgets
from .errors import AdminStoreUnavailable, FailedPrecondition, InvalidRequest, ReportedAsStatus
from .evaluation.job import Evaluator
from .quality import QualityEstimates
from .registry import ModelEntry
from .translate.admin import (
    alert_to_proto,
    audit_event_to_proto,
    category_fields,
    category_to_proto,
    model_health,
    provider_settings,
    value_source,
)
from .translate.api_keys import (
    api_key_to_proto,
    digest_to_proto,
    key_fields,
    team_fields,
    team_to_proto,
)
from .translate.budgets import standings_to_pb
from .translate.evaluation import run_response
from .translate.quality import estimates_to_pb

__all__ = ["ADMIN_SERVICE_NAME", "AdminServicer", "anonymous_identity"]

ADMIN_SERVICE_NAME = pb.DESCRIPTOR.services_by_name["RouterAdminService"].full_name
Context = grpc.aio.ServicerContext[Any, Any]
Identify = Callable[[Context], str]
_DEFAULT_PAGE = 100
# Longest API key id recorded (the gateway's ids are short names).
_MAX_KEY_ID = 128


def anonymous_identity(context: Context) -> str:
    """Who calls a router that takes no tokens: its client certificate's name, if any."""
    return " ".join(certificate_names(context)) or "anonymous"


class AdminServicer(router_admin_service_pb2_grpc.RouterAdminServiceServicer):
    """Translates admin RPCs; errors become rich statuses naming the field.

    ``identify`` names the caller's credential for the audit log
    (:meth:`llmrouter.access.Authorizer.identify`).
    """

    def __init__(
        self,
        admin: Admin,
        classification_mode: str,
        identify: Identify = anonymous_identity,
        spend: Budgets | None = None,
        *,
        evaluator: Evaluator | None = None,
        quality: QualityEstimates | None = None,
    ) -> None:
        """``spend``: the key and team budgets (None: ListBudgets lists none);
        ``evaluator``: evaluation jobs (None: RunEvaluation is FAILED_PRECONDITION);
        ``quality``: the estimates learned from feedback (None: ListQualityEstimates lists
        none)."""
        self._spend = spend
        self._evaluator = evaluator
        self._quality = quality
        self._admin = admin
        self._mode = classification_mode
        self._identify = identify
        self._keys = ApiKeys(admin)

    def _actor(self, context: Context) -> Actor:
        key_id = ""
        for name, value in context.invocation_metadata() or ():
            if name == API_KEY_ID_METADATA and isinstance(value, str):
                key_id = "".join(c for c in value if c.isprintable())[:_MAX_KEY_ID]
        return Actor(self._identify(context), key_id)

    def _health(self, entry: ModelEntry) -> pb.ModelHealth:
        return model_health(entry, self._admin.enabled_source(entry.name))

    async def ListModelHealth(
        self, request: pb.ListModelHealthRequest, context: Context
    ) -> pb.ListModelHealthResponse:
        return pb.ListModelHealthResponse(models=[self._health(e) for e in self._admin.models()])

    async def SetModelEnabled(
        self, request: pb.SetModelEnabledRequest, context: Context
    ) -> pb.SetModelEnabledResponse:
        async with ReportedAsStatus(context):
            changed = await self._admin.set_enabled(
                model=request.model,
                provider=request.provider,
                enabled=request.enabled,
                actor=self._actor(context),
            )
        return pb.SetModelEnabledResponse(models=[self._health(e) for e in changed])

    async def ResetBreaker(
        self, request: pb.ResetBreakerRequest, context: Context
    ) -> pb.ResetBreakerResponse:
        """Close the model's breaker and refill its retry budget; NOT_FOUND names ``model``."""
        async with ReportedAsStatus(context):
            entry = await self._admin.reset_breaker(request.model, self._actor(context))
        return pb.ResetBreakerResponse(model=self._health(entry))

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: Context
    ) -> pb.ListCategoriesResponse:
        return pb.ListCategoriesResponse(
            categories=[
                category_to_proto(c, self._admin.category_source(c.name))
                for c in self._admin.categories()
            ],
            classification_mode=self._mode,
        )

    async def CreateCategory(
        self, request: pb.CreateCategoryRequest, context: Context
    ) -> pb.CreateCategoryResponse:
        async with ReportedAsStatus(context):
            created = await self._admin.create_category(
                category_fields(request.category), self._actor(context)
            )
        source = self._admin.category_source(created.name)
        return pb.CreateCategoryResponse(category=category_to_proto(created, source))

    async def UpdateCategory(
        self, request: pb.UpdateCategoryRequest, context: Context
    ) -> pb.UpdateCategoryResponse:
        async with ReportedAsStatus(context):
            updated = await self._admin.update_category(
                category_fields(request.category), self._actor(context)
            )
        source = self._admin.category_source(updated.name)
        return pb.UpdateCategoryResponse(category=category_to_proto(updated, source))

    async def SetProviderBaseUrl(
        self, request: pb.SetProviderBaseUrlRequest, context: Context
    ) -> pb.SetProviderBaseUrlResponse:
        async with ReportedAsStatus(context):
            provider, models = await self._admin.set_base_url(
                request.provider, request.base_url, self._actor(context)
            )
        return pb.SetProviderBaseUrlResponse(
            provider=provider.name,
            base_url=provider.config.base_url,
            models=[self._health(e) for e in models],
            base_url_source=value_source(self._admin.base_url_source(provider.name)),
        )

    async def DeleteCategory(
        self, request: pb.DeleteCategoryRequest, context: Context
    ) -> pb.DeleteCategoryResponse:
        async with ReportedAsStatus(context):
            await self._admin.delete_category(request.name, self._actor(context))
        return pb.DeleteCategoryResponse()

    async def ListProviders(
        self, request: pb.ListProvidersRequest, context: Context
    ) -> pb.ListProvidersResponse:
        return pb.ListProvidersResponse(
            providers=[
                provider_settings(p, self._admin.base_url_source(p.name))
                for p in self._admin.providers()
            ]
        )

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: Context
    ) -> pb.ListAuditEventsResponse:
        """Newest first; INVALID_ARGUMENT names ``page_size`` or ``page_token``."""
        async with ReportedAsStatus(context):
            size, before = _page(request.page_size, request.page_token)
            try:
                events = await self._admin.store.audit_events(size, before)
            except AdminStoreError as exc:
                raise AdminStoreUnavailable(str(exc)) from exc
        # A full page may have older events behind it (an empty next page at worst).
        more = bool(events) and len(events) == min(size, MAX_AUDIT_PAGE) and events[-1].id > 1
        return pb.ListAuditEventsResponse(
            events=[audit_event_to_proto(e) for e in events],
            next_page_token=str(events[-1].id) if more else "",
        )

    async def ListAlerts(
        self, request: pb.ListAlertsRequest, context: Context
    ) -> pb.ListAlertsResponse:
        """Alerts fired, newest first; INVALID_ARGUMENT names ``page_size`` or ``page_token``."""
        async with ReportedAsStatus(context):
            size, before = _page(request.page_size, request.page_token)
            try:
                alerts = await self._admin.store.alerts.page(size, before)
            except AdminStoreError as exc:
                raise AdminStoreUnavailable(str(exc)) from exc
        more = bool(alerts) and len(alerts) == min(size, MAX_ALERT_PAGE) and alerts[-1].id > 1
        return pb.ListAlertsResponse(
            alerts=[alert_to_proto(a) for a in alerts],
            next_page_token=str(alerts[-1].id) if more else "",
        )

    async def ListBudgets(
        self, request: pb.ListBudgetsRequest, context: Context
    ) -> pb.ListBudgetsResponse:
        """Every budget rule with its current period, spent, reserved and remaining USD."""
        if self._spend is None:
            return pb.ListBudgetsResponse()
        return standings_to_pb(await self._spend.standings())

    async def RunEvaluation(
        self, request: pb.RunEvaluationRequest, context: Context
    ) -> pb.RunEvaluationResponse:
        """Grade up to ``limit`` pending samples now (0: all); FAILED_PRECONDITION when
        evaluation is off or samples nothing, INVALID_ARGUMENT names a negative ``limit``."""
        async with ReportedAsStatus(context):
            if request.limit < 0:
                raise InvalidRequest("limit must not be negative", field="limit")
            if self._evaluator is None:
                raise FailedPrecondition(
                    "evaluation is not configured: set [router.evaluation] enabled = true "
                    "with a judge_model, and router.store_content = true"
                )
            try:
                result = await self._evaluator.run(request.limit)
            except AdminStoreError as exc:
                raise AdminStoreUnavailable(str(exc)) from exc
        return run_response(result)

    async def ListQualityEstimates(
        self, request: pb.ListQualityEstimatesRequest, context: Context
    ) -> pb.ListQualityEstimatesResponse:
        """Every model x category with scores: prior, samples, posterior and its interval."""
        if self._quality is None:
            return pb.ListQualityEstimatesResponse()
        return estimates_to_pb(self._quality.estimates(), self._quality.config.min_samples)

    # Virtual keys and teams ------------------------------------------------------------------

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Context
    ) -> pb.CreateApiKeyResponse:
        """A new key and its secret (shown once); INVALID_ARGUMENT names ``api_key.<field>``."""
        async with ReportedAsStatus(context):
            key, secret = await self._keys.create(key_fields(request.api_key), self._actor(context))
        return pb.CreateApiKeyResponse(api_key=api_key_to_proto(key), secret=secret)

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Context
    ) -> pb.ListApiKeysResponse:
        keys = self._keys.keys(request.team_id, show_revoked=request.show_revoked)
        return pb.ListApiKeysResponse(api_keys=[api_key_to_proto(k) for k in keys])

    async def GetApiKey(
        self, request: pb.GetApiKeyRequest, context: Context
    ) -> pb.GetApiKeyResponse:
        async with ReportedAsStatus(context):
            key = self._keys.get(request.id)
        return pb.GetApiKeyResponse(api_key=api_key_to_proto(key))

    async def UpdateApiKey(
        self, request: pb.UpdateApiKeyRequest, context: Context
    ) -> pb.UpdateApiKeyResponse:
        async with ReportedAsStatus(context):
            fields = key_fields(request.api_key, request.update_mask)
            key = await self._keys.update(request.api_key.id, fields, self._actor(context))
        return pb.UpdateApiKeyResponse(api_key=api_key_to_proto(key))

    async def RotateApiKey(
        self, request: pb.RotateApiKeyRequest, context: Context
    ) -> pb.RotateApiKeyResponse:
        async with ReportedAsStatus(context):
            overlap = (
                request.overlap.ToTimedelta().total_seconds()
                if request.HasField("overlap")
                else None
            )
            key, secret = await self._keys.rotate(request.id, overlap, self._actor(context))
        return pb.RotateApiKeyResponse(api_key=api_key_to_proto(key), secret=secret)

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Context
    ) -> pb.RevokeApiKeyResponse:
        async with ReportedAsStatus(context):
            key = await self._keys.revoke(request.id, self._actor(context))
        return pb.RevokeApiKeyResponse(api_key=api_key_to_proto(key))

    async def CreateTeam(
        self, request: pb.CreateTeamRequest, context: Context
    ) -> pb.CreateTeamResponse:
        async with ReportedAsStatus(context):
            team = await self._keys.create_team(team_fields(request.team), self._actor(context))
        return pb.CreateTeamResponse(team=team_to_proto(team))

    async def ListTeams(
        self, request: pb.ListTeamsRequest, context: Context
    ) -> pb.ListTeamsResponse:
        return pb.ListTeamsResponse(teams=[team_to_proto(t) for t in self._keys.teams()])

    async def UpdateTeam(
        self, request: pb.UpdateTeamRequest, context: Context
    ) -> pb.UpdateTeamResponse:
        async with ReportedAsStatus(context):
            fields = team_fields(request.team, request.update_mask)
            team = await self._keys.update_team(request.team.id, fields, self._actor(context))
        return pb.UpdateTeamResponse(team=team_to_proto(team))

    async def ListApiKeyDigests(
        self, request: pb.ListApiKeyDigestsRequest, context: Context
    ) -> pb.ListApiKeyDigestsResponse:
        """The usable secrets' digests at this replica's version; only ``unchanged`` when the
        caller's copy is of that version. Served from memory: gateways ask every 250 ms."""
        version = self._admin.version
        if request.known_version == version:
            return pb.ListApiKeyDigestsResponse(version=version, unchanged=True)
        return pb.ListApiKeyDigestsResponse(
            version=version, api_keys=[digest_to_proto(d) for d in self._keys.digests()]
        )


def _page(page_size: int, page_token: str) -> tuple[int, int | None]:
    """A page's size (default 100) and the row id it starts before (None: the newest).

    Raises InvalidRequest naming ``page_size`` or ``page_token``.
    """
    if page_size < 0:
        raise InvalidRequest("page_size must not be negative", field="page_size")
    before: int | None = None
    if page_token:
        if not page_token.isdigit():
            raise InvalidRequest("page_token: not a token this service issued", field="page_token")
        before = int(page_token)
    return page_size or _DEFAULT_PAGE, before
