"""The OpenAI-compatible HTTP gateway in front of RouterService and MetricsService."""

from gateway.app import AppOptions, RunningGateway, create_app, main, serve, start
from gateway.config import ApiKeyConfig, GatewayConfig, hash_key, load_config
from gateway.errors import AuthenticationFailed, GatewayError, InvalidRequest, UpstreamError

__all__ = [
    "ApiKeyConfig",
    "AppOptions",
    "AuthenticationFailed",
    "GatewayConfig",
    "GatewayError",
    "InvalidRequest",
    "RunningGateway",
    "UpstreamError",
    "create_app",
    "hash_key",
    "load_config",
    "main",
    "serve",
    "start",
]
