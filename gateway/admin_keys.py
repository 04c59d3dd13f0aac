"""Virtual keys and teams over HTTP: ``/v1/admin/keys`` and ``/v1/admin/teams``, each one
RouterAdminService call (admin keys only, like every admin route).

``POST /v1/admin/keys`` (201, the secret shown once), ``GET /v1/admin/keys?team_id=&
include_revoked=true``, ``GET``/``PATCH /v1/admin/keys/{id}``, ``POST
/v1/admin/keys/{id}/rotate`` (``{"overlap_seconds": N}``; 200 with the new secret), ``POST
/v1/admin/keys/{id}/revoke``, ``GET``/``POST /v1/admin/teams``, ``PATCH /v1/admin/teams/{id}``.
Shapes: :mod:`gateway.translate.api_keys`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from gateway.admin import AdminEndpoints, object_body
from gateway.channels import Upstreams
from gateway.context import RequestContext
from gateway.errors import InvalidRequest
from gateway.translate import api_keys as translate
from gateway.web import JSONResponse

__all__ = ["KEY_QUERY", "KeyEndpoints"]

#: Query parameters of ``GET /v1/admin/keys``.
KEY_QUERY: Final = ("team_id", "include_revoked")
_ROTATE_KEYS: Final = ("overlap_seconds",)


class KeyEndpoints(AdminEndpoints):
    """The key and team routes (the router validates, stores and audits every change).

    ``on_change`` runs after each change the router accepted, before the answer goes out: the
    gateway refreshes its copy of the virtual keys then, so a key created here works here at
    once (other gateways take up to their refresh interval, 250 ms).
    """

    def __init__(
        self,
        upstreams: Callable[[], Upstreams],
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(upstreams)
        self._on_change = on_change

    async def _change(
        self, request: Request, method: Any, message: Any, ctx: RequestContext
    ) -> Any:
        """:meth:`_call` for a change, then ``on_change``."""
        response = await self._call(request, method, message, ctx)
        if self._on_change is not None:
            await self._on_change()
        return response

    async def keys(self, request: Request, ctx: RequestContext) -> Response:
        """``/v1/admin/keys``: GET lists, POST creates."""
        admin = self._upstreams().admin
        if request.method == "POST":
            body = await object_body(request, translate.KEY_BODY_KEYS)
            response = await self._change(
                request, admin.CreateApiKey, translate.create_api_key_request(body), ctx
            )
            return JSONResponse(
                translate.api_key_json(response.api_key, response.secret), status_code=201
            )
        team_id, show_revoked = _key_query(request)
        response = await self._call(
            request,
            admin.ListApiKeys,
            translate.list_api_keys_request(team_id, show_revoked),
            ctx,
        )
        return JSONResponse({"keys": [translate.api_key_json(k) for k in response.api_keys]})

    async def key(self, request: Request, ctx: RequestContext) -> Response:
        """``/v1/admin/keys/{id}``: GET reads, PATCH changes the body's fields."""
        admin = self._upstreams().admin
        key_id = request.path_params["id"]
        if request.method == "PATCH":
            body = await object_body(request, translate.KEY_BODY_KEYS)
            response = await self._change(
                request,
                admin.UpdateApiKey,
                translate.update_api_key_request(key_id, body),
                ctx,
            )
        else:
            response = await self._call(
                request, admin.GetApiKey, translate.get_api_key_request(key_id), ctx
            )
        return JSONResponse(translate.api_key_json(response.api_key))

    async def rotate(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/admin/keys/{id}/rotate``: a new secret, shown once."""
        body = await object_body(request, _ROTATE_KEYS, empty_ok=True)
        message = translate.rotate_api_key_request(request.path_params["id"], body)
        response = await self._change(request, self._upstreams().admin.RotateApiKey, message, ctx)
        return JSONResponse(translate.api_key_json(response.api_key, response.secret))

    async def revoke(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/admin/keys/{id}/revoke``."""
        message = translate.revoke_api_key_request(request.path_params["id"])
        response = await self._change(request, self._upstreams().admin.RevokeApiKey, message, ctx)
        return JSONResponse(translate.api_key_json(response.api_key))

    async def teams(self, request: Request, ctx: RequestContext) -> Response:
        """``/v1/admin/teams``: GET lists, POST creates."""
        admin = self._upstreams().admin
        if request.method == "POST":
            body = await object_body(request, translate.TEAM_BODY_KEYS)
            response = await self._change(
                request, admin.CreateTeam, translate.create_team_request(body), ctx
            )
            return JSONResponse(translate.team_json(response.team), status_code=201)
        listed = await self._call(request, admin.ListTeams, translate.list_teams_request(), ctx)
        return JSONResponse({"teams": [translate.team_json(t) for t in listed.teams]})

    async def team(self, request: Request, ctx: RequestContext) -> Response:
        """``PATCH /v1/admin/teams/{id}``."""
        body = await object_body(request, translate.TEAM_BODY_KEYS)
        message = translate.update_team_request(request.path_params["id"], body)
        response = await self._change(request, self._upstreams().admin.UpdateTeam, message, ctx)
        return JSONResponse(translate.team_json(response.team))


def _key_query(request: Request) -> tuple[str, bool]:
    team_id, show_revoked = "", False
    for name, value in request.query_params.multi_items():
        if name not in KEY_QUERY:
            raise InvalidRequest(f"Unrecognized query parameter: '{name}'.", name)
        if name == "team_id":
            team_id = value
        elif value in ("true", "false"):
            show_revoked = value == "true"
        else:
            raise InvalidRequest(f"Invalid '{name}': expected true or false.", name)
    return team_id, show_revoked
