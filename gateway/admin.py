"""Operator controls over HTTP: ``/v1/admin/*``, each one RouterAdminService call.

The router validates and persists every change, and records it in its audit log with the
caller's API key id (sent as ``llmrouter-api-key-id`` metadata); the gateway only checks the
JSON shapes and maps failures through the one gRPC-to-HTTP table. A rejected category names
the offending field of the HTTP body (``chain[1]``), not of the gRPC message
(``category.chain[1]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway.channels import Upstreams
from gateway.context import RequestContext
from gateway.errors import GatewayError, InvalidRequest, from_rpc_error
from gateway.streaming import until_disconnect
from gateway.translate import admin as translate
from gateway.translate import budgets as translate_budgets
from gateway.translate import evaluation as translate_evaluation
from gateway.translate import quality as translate_quality
from gateway.validate import expect_int, optional_number
from gateway.web import JSONResponse, read_json
from llmrouter.access import API_KEY_ID_METADATA
from llmrouter.chat_rules import MIN_QUALITY, Range

__all__ = [
    "AUDIT_DEFAULT_LIMIT",
    "AUDIT_LIMITS",
    "ENABLED_BODY_KEYS",
    "AdminEndpoints",
    "object_body",
]

ENABLED_BODY_KEYS: Final = ("enabled",)
# Query parameters of /v1/admin/audit and their ranges (the router returns at most 500).
AUDIT_LIMITS: Final = {"limit": (1, 500), "before": (1, 2**63 - 1)}
AUDIT_DEFAULT_LIMIT: Final = 50
_CATEGORY_KEYS: Final = ("name", "chain", "keywords", "min_quality")
_EVALUATION_KEYS: Final = ("limit",)
# RunEvaluationRequest.limit: an int32, 0 for every pending sample.
_EVALUATION_LIMIT: Final = Range(0, 2**31 - 1)
# Admin bodies are tiny; a larger one is a mistake, not a category.
_MAX_BODY: Final = 64 * 1024
# The router names the fields of its message; the HTTP body is the category (key, team) itself.
_MESSAGE_PREFIXES: Final = ("category.", "api_key.", "team.")


class AdminEndpoints:
    """Model switches, breaker resets and category edits through the router's admin RPCs."""

    def __init__(self, upstreams: Callable[[], Upstreams]) -> None:
        self._upstreams = upstreams

    async def _call(self, request: Request, method: Any, message: Any, ctx: RequestContext) -> Any:
        """Call the router; it records the caller's API key id in its audit log."""
        metadata = ((API_KEY_ID_METADATA, ctx.api_key_id),) if ctx.api_key_id else None
        call = method(message, timeout=ctx.timeout_s, metadata=metadata)
        try:
            return await until_disconnect(request.receive, call, call.cancel)
        except grpc.aio.AioRpcError as exc:
            error = from_rpc_error(exc)
            for prefix in _MESSAGE_PREFIXES:
                if error.param is not None and error.param.startswith(prefix):
                    error.param = error.param.removeprefix(prefix)
            if error.param is not None and error.param.endswith(".rolling_window"):
                # A budget's window is `rolling_seconds` in the HTTP body (a Duration inside).
                error.param = error.param.removesuffix("rolling_window") + "rolling_seconds"
            raise error from exc

    async def categories(self, request: Request, ctx: RequestContext) -> Response:
        """``/v1/admin/categories``: GET lists, POST creates (one route, so 405 lists both)."""
        if request.method == "POST":
            return await self.create_category(request, ctx)
        return await self.list_categories(request, ctx)

    async def category(self, request: Request, ctx: RequestContext) -> Response:
        """``/v1/admin/categories/{name}``: PUT replaces, DELETE removes."""
        if request.method == "DELETE":
            return await self.delete_category(request, ctx)
        return await self.update_category(request, ctx)

    async def list_models(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/admin/models``: every model with its live health."""
        admin = self._upstreams().admin
        response = await self._call(
            request, admin.ListModelHealth, translate.list_model_health_request(), ctx
        )
        return JSONResponse({"models": translate.models_json(response)})

    async def set_model_enabled(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/admin/models/{name}/enabled`` with ``{"enabled": bool}``."""
        enabled = await _enabled(request)
        message = translate.set_enabled_request(model=request.path_params["name"], enabled=enabled)
        admin = self._upstreams().admin
        response = await self._call(request, admin.SetModelEnabled, message, ctx)
        return JSONResponse({"models": translate.models_json(response)})

    async def set_provider_enabled(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/admin/providers/{name}/enabled``: switch every model of a provider."""
        enabled = await _enabled(request)
        message = translate.set_enabled_request(
            provider=request.path_params["name"], enabled=enabled
        )
        admin = self._upstreams().admin
        response = await self._call(request, admin.SetModelEnabled, message, ctx)
        return JSONResponse({"models": translate.models_json(response)})

    async def list_providers(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/admin/providers``: each provider's base URL and where it comes from."""
        admin = self._upstreams().admin
        response = await self._call(
            request, admin.ListProviders, translate.list_providers_request(), ctx
        )
        return JSONResponse({"providers": translate.providers_json(response)})

    async def audit(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/admin/audit?limit=50&before=<id>``: admin changes, newest first."""
        limit, before = _audit_query(request)
        admin = self._upstreams().admin
        response = await self._call(
            request, admin.ListAuditEvents, translate.list_audit_events_request(limit, before), ctx
        )
        return JSONResponse(translate.audit_json(response))

    async def alerts(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/admin/alerts?limit=50&before=<id>``: alerts fired, newest first."""
        limit, before = _audit_query(request)
        admin = self._upstreams().admin
        response = await self._call(
            request, admin.ListAlerts, translate.list_alerts_request(limit, before), ctx
        )
        return JSONResponse(translate.alerts_json(response))

    async def budgets(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/admin/budgets``: each budget rule with its period, spent, reserved and
        remaining USD."""
        admin = self._upstreams().admin
        response = await self._call(
            request, admin.ListBudgets, translate_budgets.list_budgets_request(), ctx
        )
        return JSONResponse({"budgets": translate_budgets.budgets_json(response)})

    async def run_evaluation(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/admin/evaluation`` with ``{"limit": N}`` (optional; 0 or absent: every
        pending sample): an evaluation job now (README, "Evaluation jobs")."""
        body = await object_body(request, _EVALUATION_KEYS, empty_ok=True)
        limit = expect_int(body.get("limit", 0), "limit", _EVALUATION_LIMIT)
        admin = self._upstreams().admin
        try:
            response = await self._call(
                request,
                admin.RunEvaluation,
                translate_evaluation.run_evaluation_request(limit),
                ctx,
            )
        except GatewayError as error:
            if error.code == "failed_precondition":
                # A valid request the router's state refuses (evaluation off): a conflict with
                # that state, not a fault of the request (RFC 9110, 15.5.10 409 Conflict).
                error.http_status, error.error_type = 409, "conflict_error"
                error.code = "evaluation_not_configured"
            raise
        return JSONResponse(translate_evaluation.evaluation_json(response))

    async def quality(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/admin/quality``: the router's quality estimates per model x category
        (prior, scores, posterior and its 90 % interval, whether scoring uses it)."""
        admin = self._upstreams().admin
        response = await self._call(
            request, admin.ListQualityEstimates, translate_quality.list_request(), ctx
        )
        return JSONResponse(translate_quality.estimates_json(response))

    async def reset_breaker(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/admin/models/{name}/reset-breaker``: close the breaker, forget failures."""
        message = translate.reset_breaker_request(request.path_params["name"])
        admin = self._upstreams().admin
        response = await self._call(request, admin.ResetBreaker, message, ctx)
        return JSONResponse({"model": translate.model_health_json(response.model)})

    async def list_categories(self, request: Request, ctx: RequestContext) -> Response:
        """``GET /v1/admin/categories``: categories in matching order."""
        admin = self._upstreams().admin
        response = await self._call(
            request, admin.ListCategories, translate.list_categories_request(), ctx
        )
        return JSONResponse(translate.categories_json(response))

    async def create_category(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/admin/categories``: add a category after the others (201)."""
        body = await object_body(request, _CATEGORY_KEYS)
        name = _string(body, "name")
        message = translate.create_category_request(
            name,
            _strings(body, "chain"),
            _strings(body, "keywords", required=False),
            _bound(body),
        )
        admin = self._upstreams().admin
        response = await self._call(request, admin.CreateCategory, message, ctx)
        return JSONResponse(translate.category_json(response.category), status_code=201)

    async def update_category(self, request: Request, ctx: RequestContext) -> Response:
        """``PUT /v1/admin/categories/{name}``: replace the chain, keywords and bound."""
        name = request.path_params["name"]
        body = await object_body(request, _CATEGORY_KEYS)
        if "name" in body and body["name"] != name:
            raise InvalidRequest(
                "Invalid 'name': a category cannot be renamed; create a new one instead.", "name"
            )
        message = translate.update_category_request(
            name,
            _strings(body, "chain"),
            _strings(body, "keywords", required=False),
            _bound(body),
        )
        admin = self._upstreams().admin
        response = await self._call(request, admin.UpdateCategory, message, ctx)
        return JSONResponse(translate.category_json(response.category))

    async def delete_category(self, request: Request, ctx: RequestContext) -> Response:
        """``DELETE /v1/admin/categories/{name}``."""
        name = request.path_params["name"]
        admin = self._upstreams().admin
        await self._call(
            request, admin.DeleteCategory, translate.delete_category_request(name), ctx
        )
        return JSONResponse({"name": name, "deleted": True})


def _audit_query(request: Request) -> tuple[int, int | None]:
    """``limit`` (1-500, default 50) and ``before`` (an event's or alert's id) from the
    query (the audit log's and the alerts' paging)."""
    values: dict[str, int] = {}
    for name, value in request.query_params.multi_items():
        if name not in AUDIT_LIMITS:
            raise InvalidRequest(f"Unrecognized query parameter: '{name}'.", name)
        low, high = AUDIT_LIMITS[name]
        if name in values or not value.isdigit() or not low <= int(value) <= high:
            raise InvalidRequest(
                f"Invalid '{name}': expected one integer from {low} to {high}.", name
            )
        values[name] = int(value)
    return values.get("limit", AUDIT_DEFAULT_LIMIT), values.get("before")


async def object_body(
    request: Request, keys: tuple[str, ...], *, empty_ok: bool = False
) -> dict[str, Any]:
    """The JSON object body of an admin request, with only ``keys`` in it (64 KiB at most);
    ``empty_ok``: no body at all reads as ``{}``. InvalidRequest names an unknown key."""
    if empty_ok and request.headers.get("content-length", "0") == "0":
        return {}
    body = await read_json(request, _MAX_BODY)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", None)
    for key in body:
        if key not in keys:
            raise InvalidRequest(f"Unrecognized request argument supplied: {key}", key)
    return body


async def _enabled(request: Request) -> bool:
    body = await object_body(request, ENABLED_BODY_KEYS)
    value = body.get("enabled")
    if not isinstance(value, bool):
        raise InvalidRequest("Invalid 'enabled': expected true or false.", "enabled")
    return value


def _bound(body: dict[str, Any]) -> float | None:
    """The body's ``min_quality``: a number in [0, 1], or None when absent or null."""
    value = optional_number(body, "min_quality", within=MIN_QUALITY)
    if value is not None and value != value:  # NaN
        raise InvalidRequest("Invalid 'min_quality': expected a number in [0, 1].", "min_quality")
    return value


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid '{key}': expected a string.", key)
    return value


def _strings(body: dict[str, Any], key: str, *, required: bool = True) -> list[str]:
    if key not in body and not required:
        return []
    value = body.get(key)
    if not isinstance(value, list):
        raise InvalidRequest(f"Invalid '{key}': expected an array of strings.", key)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidRequest(f"Invalid '{key}[{i}]': expected a string.", f"{key}[{i}]")
    return value
