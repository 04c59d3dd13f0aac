"""Gateway configuration: section ``[gateway]`` of the TOML file plus ``LLMROUTER_GATEWAY_*``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from llmrouter.config import ConfigError, load_section, read_file

__all__ = ["GatewayConfig", "load_config"]


@dataclass(frozen=True)
class GatewayConfig:
    """Where the HTTP gateway listens, which services it calls, and its limits."""

    # Interface the HTTP server binds ("0.0.0.0" to accept connections from other hosts).
    host: str = "127.0.0.1"
    # TCP port of the HTTP server; 0 picks a free one (tests).
    port: int = 8080
    # host:port of RouterService (gRPC).
    router_address: str = "127.0.0.1:50051"
    # host:port of MetricsService (gRPC), for usage endpoints.
    metrics_address: str = "127.0.0.1:50052"
    # Deadline of one chat request, in seconds; a stream must finish within it too.
    request_timeout_s: float = 120.0
    # Largest accepted request body, in bytes; larger bodies get 413 before any parsing.
    max_body_bytes: int = 1048576
    # Seconds in-flight requests get to finish after a stop is requested.
    shutdown_grace_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: must be between 0 and 65535, got {self.port}")
        for name in ("router_address", "metrics_address"):
            if not getattr(self, name).strip():
                raise ConfigError(f"{name}: must not be empty")
        if self.request_timeout_s <= 0:
            raise ConfigError(f"request_timeout_s: must be positive, got {self.request_timeout_s}")
        if self.max_body_bytes <= 0:
            raise ConfigError(f"max_body_bytes: must be positive, got {self.max_body_bytes}")
        if self.shutdown_grace_s < 0:
            raise ConfigError(
                f"shutdown_grace_s: must not be negative, got {self.shutdown_grace_s}"
            )


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Read ``[gateway]`` from ``path`` (or ``$LLMROUTER_CONFIG``) with environment overrides."""
    return load_section(GatewayConfig, "gateway", read_file(path), environ)
