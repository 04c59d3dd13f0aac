"""The OpenAI-compatible HTTP gateway in front of RouterService."""

from gateway.app import RunningGateway, create_app, main, serve, start
from gateway.config import GatewayConfig, load_config
from gateway.errors import GatewayError, InvalidRequest, UpstreamError

__all__ = [
    "GatewayConfig",
    "GatewayError",
    "InvalidRequest",
    "RunningGateway",
    "UpstreamError",
    "create_app",
    "load_config",
    "main",
    "serve",
    "start",
]
