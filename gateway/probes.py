"""Liveness (``/healthz``: the process serves HTTP) and readiness (``/readyz``: the router and
the metrics service both answer their gRPC health check with SERVING).

``/readyz`` also shows the shared state (``[state]``): its backend, address and whether it
answers now. An unreachable Redis does not make the gateway unready: serving goes on (limits
fall back to per-replica shares, admin changes reach replicas at their next resync).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

import grpc
from grpc_health.v1 import health_pb2
from starlette.requests import Request
from starlette.responses import Response

from gateway.channels import Upstreams
from gateway.errors import GatewayError
from gateway.web import JSONResponse
from llmrouter.shared_state import SharedState

__all__ = ["SERVING", "Health"]

SERVING: Final = "SERVING"
# What /readyz reports for a service whose health check failed as a call.
_CALL_FAILURES: Final = {
    grpc.StatusCode.DEADLINE_EXCEEDED: "TIMEOUT",
    grpc.StatusCode.UNIMPLEMENTED: "NO_HEALTH_SERVICE",
}


class Health:
    """``/healthz`` and ``/readyz``; neither needs an API key."""

    def __init__(
        self,
        upstreams: Callable[[], Upstreams],
        *,
        timeout_s: float,
        auth_enabled: bool,
        state: Callable[[], SharedState | None] = lambda: None,
    ) -> None:
        self._upstreams = upstreams
        self._timeout_s = timeout_s
        self._auth = "enabled" if auth_enabled else "disabled"
        self._state = state

    async def healthz(self, request: Request) -> Response:
        """The process serves HTTP (liveness); says whether API keys are required."""
        return JSONResponse({"status": "ok", "auth": self._auth})

    async def _connected(self, channel: grpc.aio.Channel | None) -> bool:
        """Whether the requests' router channel is READY, waiting up to the readiness timeout
        for it to connect; True for a borrowed channel (None), which its owner manages."""
        if channel is None:
            return True
        try:
            await asyncio.wait_for(channel.channel_ready(), self._timeout_s)
        except TimeoutError:
            return False
        return True

    async def readyz(self, request: Request) -> Response:
        """200 when both services report SERVING within the timeout, else 503 naming which not."""
        upstreams = self._upstreams()
        router, metrics, state, connected = await asyncio.gather(
            self._check(upstreams.router_health),
            self._check(upstreams.metrics_health),
            self._shared_state(),
            self._connected(upstreams.router_channel),
        )
        if router == SERVING and not connected:
            # The health probe has a channel of its own: requests must not find theirs still
            # connecting (or in reconnect backoff) and fail fast with a 503.
            router = "CONNECTING"
        body: dict[str, Any] = {"status": "ready", "router": router, "metrics": metrics}
        if state is not None:
            body["state"] = state
        if router == SERVING and metrics == SERVING:
            return JSONResponse(body)
        down = ", ".join(
            f"{name} is {state}"
            for name, state in (("router", router), ("metrics", metrics))
            if state != SERVING
        )
        error = GatewayError(
            f"Not ready: {down}.",
            code="not_ready",
            http_status=503,
            error_type="service_unavailable_error",
        )
        body = {**body, "status": "not_ready", **error.body()}
        return JSONResponse(body, status_code=503)

    async def _shared_state(self) -> dict[str, Any] | None:
        state = self._state()
        if state is None:
            return None
        return {
            "backend": state.backend,
            "address": state.describe(),
            "reachable": await state.ping(),
        }

    async def _check(self, stub: Any) -> str:
        """The serving status of the service behind ``stub`` (its overall status, service "")."""
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            return _CALL_FAILURES.get(exc.code(), "UNREACHABLE")
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
